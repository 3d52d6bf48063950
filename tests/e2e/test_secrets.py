"""Planted secrets never show in logs, output, errors, the store, report files, mails, cards or the
dashboard's pages."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import make_url

from collector.cli import cli
from collector.db.engine import make_engine
from collector.db.models import Base
from collector.periods import add_months
from dashboard import nav
from dashboard.auth import LOCAL
from tests.conftest import Counts
from tests.e2e.test_dashboard import run_page
from tests.emulated import emulator, history_start
from tests.unit.test_alert_channels import (
    PASSWORD,
    RECIPIENTS,
    SIG,
    USER,
    Inbox,
    Tls,
    Webhook,
    authenticator,
    smtp_server,  # noqa: F401 - a fixture, requested by name
    tls,  # noqa: F401 - a fixture, requested by name
    webhook,  # noqa: F401 - a fixture, requested by name
)

ARM_TOKEN = "planted-arm-token-7c1e0d"
DB_PASSWORD = "planted-db-password-93ab"
CLIENT_SECRET = "planted-client-secret-5d20"  # a service principal's, in the environment beside the token
SECRETS = {
    "ARM token": ARM_TOKEN,
    "database password": DB_PASSWORD,
    "client secret": CLIENT_SECRET,
    "SMTP password": PASSWORD,
    "Teams webhook URL": SIG,  # the URL's signature is what makes it a secret
}


def _element_texts(node: Any) -> Iterator[str]:
    """Everything a dashboard page put on screen: each element's message, tables and downloads included."""
    proto = getattr(node, "proto", None)
    if proto is not None:
        yield str(proto)
    for child in getattr(node, "children", {}).values():
        yield from _element_texts(child)


def _file_texts(path: Path) -> list[str]:
    """A report file as text: XLSX is a zip of XML, PDF keeps its text in (deflated) streams."""
    data = path.read_bytes()
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as archive:
            return [archive.read(name).decode(errors="replace") for name in archive.namelist()]
    texts = [data.decode(errors="replace")]
    if path.suffix == ".pdf":
        for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.DOTALL):
            with contextlib.suppress(zlib.error):
                texts.append(zlib.decompress(stream).decode("latin-1"))
    return texts


def test_a_full_demo_run_leaks_no_secret(
    database_urls: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    smtp_server: Callable[..., Inbox],
    webhook: Webhook,
    tls: Tls,
    tmp_path: Path,
    counts: Counts,
) -> None:
    """Collect (one subscription refused, then the token expired), evaluate and deliver alerts by mail
    and Teams, write and mail every report format, render every dashboard page: the planted secrets
    appear in no log line, output, exception, stored row, report file, mail, card or page."""
    # PostgreSQL here trusts local connections, so a planted password is accepted and must stay hidden.
    url = make_url(database_urls["postgresql"]).set(password=DB_PASSWORD).render_as_string(hide_password=False)
    for key in list(os.environ):
        if key.startswith("COSTWATCH_"):
            monkeypatch.delenv(key)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # the receivers are on loopback
    caplog.set_level(logging.DEBUG)
    inbox = smtp_server(authenticator=authenticator, auth_require_tls=False)
    reports = tmp_path / "reports"
    reports.mkdir()
    with emulator() as server:
        broken = server.tenant.subscriptions[0].subscription_id
        server.faults.fail_subscription(broken, status=403)  # error paths must not leak either
        environment = {
            "COSTWATCH_DATABASE_URL": url,
            "COSTWATCH_ARM_ENDPOINT": server.url,
            "COSTWATCH_ARM_TOKEN": ARM_TOKEN,
            "COSTWATCH_CA_BUNDLE": str(server.ca_path),
            "AZURE_TENANT_ID": "00000000-0000-0000-0000-0000000000aa",
            "AZURE_CLIENT_ID": "00000000-0000-0000-0000-0000000000bb",
            "AZURE_CLIENT_SECRET": CLIENT_SECRET,
            "COSTWATCH_ALERTS__EMAIL__SMTP_HOST": "127.0.0.1",
            "COSTWATCH_ALERTS__EMAIL__SMTP_PORT": str(inbox.port),
            "COSTWATCH_ALERTS__EMAIL__SENDER": "costwatch@example.com",
            "COSTWATCH_ALERTS__EMAIL__RECIPIENTS": ",".join(RECIPIENTS),
            "COSTWATCH_ALERTS__EMAIL__STARTTLS": "false",
            "COSTWATCH_ALERTS__EMAIL__USERNAME": USER,
            "COSTWATCH_ALERTS__EMAIL__PASSWORD": PASSWORD,
            "COSTWATCH_ALERTS__TEAMS__WEBHOOK_URL": webhook.url(),
            "COSTWATCH_ALERTS__TEAMS__CA_BUNDLE": str(tls.ca_path),
        }
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        month = add_months(server.tenant.today.replace(day=1), -1).strftime("%Y-%m")
        runner = CliRunner()
        outputs = [
            runner.invoke(cli, ["-v", "db", "upgrade"]),
            runner.invoke(cli, ["-v", "collect", "--since", history_start(server).isoformat()]),
            runner.invoke(cli, ["db", "current"]),
            runner.invoke(cli, ["-v", "alerts", "evaluate"]),
            runner.invoke(cli, ["alerts", "list", "--format", "json"]),
            runner.invoke(cli, ["status"]),
            *(
                runner.invoke(cli, ["-v", "report", "--month", month, "--format", f, "--out", str(reports), "--email"])
                for f in ("csv", "xlsx", "pdf", "focus")
            ),
        ]
        server.faults.expire_token(after_requests=0)
        outputs.append(runner.invoke(cli, ["-v", "collect"]))

        pages: list[str] = []  # the dashboard on this store, every page (as an admin sees it)
        st.cache_data.clear()
        st.cache_resource.clear()
        names = [spec.name for spec in nav.page_specs(LOCAL)]
        for name in names:
            at = run_page(name)
            pages.append("\n".join(_element_texts(at._tree)))
        st.cache_data.clear()
        st.cache_resource.clear()
    # collect fails (a planted fault), so status, asked next, exits 1 too.
    assert [o.exit_code for o in outputs] == [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1], [o.output for o in outputs]
    assert inbox.received and webhook.posts, "alerts and reports were delivered through both channels"
    assert len(names) >= 7 and all(pages)

    logs = [caplog.text] + [o.stdout + o.stderr + repr(o.exception) for o in outputs]
    # The CLI sends its log to stderr (replacing the root handlers, caplog's too): count both.
    log_lines = len(caplog.records) + sum(len(o.stderr.splitlines()) for o in outputs)
    assert log_lines > 100  # DEBUG logs of whole runs, not a few lines
    files = [(p, _file_texts(p)) for p in sorted(reports.iterdir())]
    assert {p.suffix for p, _ in files} >= {".csv", ".xlsx", ".pdf"}
    sent = [m.message.as_string() for m in inbox.received] + [json.dumps(p) for _, _, p in webhook.posts]
    rows: list[str] = []
    engine = make_engine(url)
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows.extend(repr(r) for r in connection.execute(text(f"SELECT * FROM {table.name}")))
    engine.dispose()
    assert len(rows) > 1000  # the scan saw the store's rows, not just an empty page

    scanned = {
        "log lines and outputs": logs,
        "stored rows": rows,
        "report files": [t for _, texts in files for t in texts],
        "mails and cards": sent,
        "dashboard pages": pages,
    }
    for what, texts in scanned.items():
        for name, secret in SECRETS.items():
            assert not [t for t in texts if secret in t], f"the {name} leaked into {what}"
    counts.add("secrets planted", len(SECRETS))
    counts.add("pages scanned", len(pages))
    counts.add("files scanned", len(files) + len(sent))
    counts.add("rows scanned", len(rows))
    counts.add("log lines scanned", log_lines)
    counts.add("outputs scanned", len(outputs))


@pytest.mark.parametrize("env", ["COSTWATCH_ARM_TOKEN", "COSTWATCH_DATABASE_URL"])
def test_settings_errors_do_not_echo_secret_values(monkeypatch, env: str) -> None:
    for key in list(os.environ):
        if key.startswith("COSTWATCH_"):
            monkeypatch.delenv(key)
    secret = "Bearer planted-secret-5521" if env == "COSTWATCH_ARM_TOKEN" else "mysql://u:planted-secret-5521@h/db"
    monkeypatch.setenv(env, secret)
    result = CliRunner().invoke(cli, ["collect"])
    assert result.exit_code == 1 and env in result.stderr
    assert "planted-secret-5521" not in result.stderr + result.stdout
