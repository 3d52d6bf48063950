"""Planted secrets never show in logs, output, errors or the store."""

from __future__ import annotations

import logging
import os

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import make_url

from collector.cli import cli
from collector.db.engine import make_engine
from collector.db.models import Base
from tests.emulated import emulator, history_start

ARM_TOKEN = "planted-arm-token-7c1e0d"
DB_PASSWORD = "planted-db-password-93ab"


def test_a_full_collection_leaks_no_secret(database_urls: dict[str, str], monkeypatch, caplog) -> None:
    # PostgreSQL here trusts local connections, so a planted password is accepted and must stay hidden.
    url = make_url(database_urls["postgresql"]).set(password=DB_PASSWORD).render_as_string(hide_password=False)
    for key in list(os.environ):
        if key.startswith("COSTWATCH_"):
            monkeypatch.delenv(key)
    caplog.set_level(logging.DEBUG)
    with emulator() as server:
        broken = server.tenant.subscriptions[0].subscription_id
        server.faults.fail_subscription(broken, status=403)  # error paths must not leak either
        monkeypatch.setenv("COSTWATCH_DATABASE_URL", url)
        monkeypatch.setenv("COSTWATCH_ARM_ENDPOINT", server.url)
        monkeypatch.setenv("COSTWATCH_ARM_TOKEN", ARM_TOKEN)
        monkeypatch.setenv("COSTWATCH_CA_BUNDLE", str(server.ca_path))
        runner = CliRunner()
        outputs = [
            runner.invoke(cli, ["-v", "db", "upgrade"]),
            runner.invoke(cli, ["-v", "collect", "--since", history_start(server).isoformat()]),
            runner.invoke(cli, ["db", "current"]),
        ]
        server.faults.expire_token(after_requests=0)
        outputs.append(runner.invoke(cli, ["-v", "collect"]))
    assert [o.exit_code for o in outputs] == [0, 1, 0, 1]
    texts = [caplog.text] + [o.stdout + o.stderr + repr(o.exception) for o in outputs]
    engine = make_engine(url)
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            texts.extend(repr(r) for r in connection.execute(text(f"SELECT * FROM {table.name}")))
    engine.dispose()
    assert len(texts) > 1000  # the scan saw the store's rows, not just an empty page
    for secret in (ARM_TOKEN, DB_PASSWORD):
        assert not [t for t in texts if secret in t], f"{secret} leaked"


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
