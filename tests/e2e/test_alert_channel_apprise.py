"""The apprise channel against a real local JSON webhook receiver (http.server on a free loopback port):
what arrives, which failures are retried through the outbox, and that the URL's token never shows."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from collector.alerts.channels import AppriseChannel, DeliveryError, configured_channels
from collector.alerts.channels.apprise import format_message, redact
from collector.alerts.engine import deliver, evaluate
from collector.cli import cli
from collector.db.models import OutboxMessage
from collector.settings import AlertSettings, AppriseSettings, SettingsError, load_settings
from tests.emulated import MID_MONTH, collect_all, emulator_at, settings_for
from tests.unit.test_alert_channels import HOSTILE, LINK, free_port, leaked, notification

TOKEN = "PlantedAppriseToken7c41d9e0"
REFUSED_404 = "refused it: 404 (is the path in the URL right?)"
BUDGET = {"scope": "project", "name": "proj-chatbot", "amount": "100", "currency": "USD"}


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver is on loopback: a proxy from the environment must not stand in between."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@dataclass
class Receiver:
    """What the webhook got, and the status it answers."""

    port: int = 0
    posts: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0  # seconds to wait before answering
    by_path: dict[str, int] = field(default_factory=dict)  # a status for one path instead of `status`

    def url(self, port: int | None = None) -> str:
        return f"json://127.0.0.1:{port or self.port}/hooks/{TOKEN}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            state.posts.append((self.path, dict(self.headers), json.loads(self.rfile.read(length))))
            if state.delay:
                time.sleep(state.delay)
            # an error body that quotes the request must not come back through ours
            status = state.by_path.get(self.path, state.status)
            body = b"" if status < 300 else f'{{"error": "no hook at {self.path}"}}'.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up waiting (the timeout test)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test's output is no place for an access log

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def channel(*urls: str, **changes: Any) -> AppriseChannel:
    return AppriseChannel(AppriseSettings(urls=[SecretStr(u) for u in urls], **changes))


# -- the channel on its own -----------------------------------------------------------------------


def test_posts_the_alert_as_escaped_markdown(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    answer = channel(receiver.url()).send(notification())

    assert answer == "sent by apprise to 1 URL(s)"
    [(path, headers, payload)] = receiver.posts
    assert path == f"/hooks/{TOKEN}" and headers["Content-Type"] == "application/json"
    assert payload["type"] == "failure"  # critical: what PagerDuty and Opsgenie map to their top severity
    assert payload["title"].startswith("CRITICAL firing: standardNCADSA100v4Family in westus3 ")
    message = payload["message"]
    assert "96 of 100 vCPUs" in message and "- **Value:** 96%" in message and "- **Threshold:** 95%" in message
    assert "2026-11-03 14:05 UTC" in message
    assert message.endswith(f"[Open in costwatch]({LINK})")
    # text from Azure shows literally: its markup is escaped, and unescaped it is the original text
    assert r"\[link\]\(http://evil\)" in payload["title"] and "[link](http://evil)" not in message
    assert re.sub(r"\\(.)", r"\1", payload["title"]).endswith(HOSTILE)
    assert r"- **tag:** \- \[x\]\(http://evil\) \<b\>" in message
    # apprise logs the URL it posts to at DEBUG, urllib3 the path: neither shows the token
    assert "JSON POST URL" in caplog.text and TOKEN not in caplog.text


def test_slack_format_webhook_on_our_own_host(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    # apprise's slack:// posts only to hooks.slack.com; Mattermost's incoming webhooks take Slack's
    # payload ({"text": ...}) on any host, so mmost:// is the Slack-format receiver we can run here.
    caplog.set_level(logging.DEBUG)
    answer = channel(f"mmost://127.0.0.1:{receiver.port}/{TOKEN}").send(notification())
    assert answer == "sent by apprise to 1 URL(s)"
    [(path, _headers, payload)] = receiver.posts
    assert path == f"/hooks/{TOKEN}"
    assert "CRITICAL firing: standardNCADSA100v4Family" in payload["text"]
    assert "96 of 100 vCPUs" in payload["text"] and r"\[link\]\(http://evil\)" in payload["text"]
    assert TOKEN not in caplog.text
    receiver.status = 403
    with pytest.raises(DeliveryError) as caught:
        channel(f"mmost://127.0.0.1:{receiver.port}/{TOKEN}").send(notification())
    assert not caught.value.retryable and "apprise URL 1 (Mattermost) refused it: 403" in str(caught.value)
    assert TOKEN not in caplog.text


def test_resolved_and_warning_map_to_apprise_types(receiver: Receiver) -> None:
    send = channel(receiver.url()).send
    send(notification(severity="warning"))
    send(notification(event="resolved"))
    assert [p[2]["type"] for p in receiver.posts] == ["warning", "success"]
    assert receiver.posts[1][2]["title"].startswith("RESOLVED: ")


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (502, True), (503, True), (429, True), (400, False), (401, False), (403, False), (404, False)],
)
def test_http_errors(receiver: Receiver, caplog: pytest.LogCaptureFixture, status: int, retryable: bool) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.status = status
    with pytest.raises(DeliveryError) as caught:
        channel(receiver.url()).send(notification())
    assert caught.value.retryable is retryable
    assert str(status) in str(caught.value) and "apprise URL 1 (JSON)" in str(caught.value)
    assert len(receiver.posts) == 1
    logging.getLogger("costwatch.test").error("delivery failed", exc_info=caught.value)
    assert not leaked(caught.value, TOKEN) and "127.0.0.1" not in str(caught.value)
    assert TOKEN not in caplog.text  # apprise logs the receiver's error body at DEBUG: it quotes the path


def test_receiver_down_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DeliveryError) as caught:
        channel(Receiver().url(free_port())).send(notification())
    assert caught.value.retryable and "could not connect" in str(caught.value)
    assert not leaked(caught.value, TOKEN) and TOKEN not in caplog.text
    assert "Connection refused" in caplog.text  # the reason is still in the log, without the URL


def test_silent_receiver_times_out_and_is_retried(receiver: Receiver) -> None:
    receiver.delay = 2.0
    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        channel(receiver.url(), timeout_seconds=0.3).send(notification())
    assert time.monotonic() - started < 1.5  # the setting, not apprise's 4 s default
    assert caught.value.retryable and "timed out" in str(caught.value)


def test_one_url_refusing_for_good_does_not_stop_the_others(receiver: Receiver) -> None:
    receiver.by_path = {f"/missing/{TOKEN}": 404}
    gone = f"json://127.0.0.1:{receiver.port}/missing/{TOKEN}"
    answer = channel(gone, receiver.url()).send(notification())
    # the second URL has it: a retry would only repeat it there, so this is a success that says so
    assert (
        answer
        == "sent by apprise to 1 URL(s); refused: apprise URL 1 (JSON) refused it: 404 (is the path in the URL right?)"
    )
    assert len(receiver.posts) == 2


def test_one_url_down_retries_them_all(receiver: Receiver) -> None:
    receiver.by_path = {f"/busy/{TOKEN}": 503}
    busy = f"json://127.0.0.1:{receiver.port}/busy/{TOKEN}"
    with pytest.raises(DeliveryError) as caught:
        channel(receiver.url(), busy).send(notification())
    assert caught.value.retryable and "apprise URL 2 (JSON) answered 503" in str(caught.value)


def test_every_token_of_a_slack_url_is_taken_out_of_text() -> None:
    # slack://A/B/C: apprise reads the first token as the host; hostnames are lowercased by urlsplit
    tokens = ["T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7"]
    channel(f"slack://{'/'.join(tokens)}")  # built, never sent: it would go to hooks.slack.com
    text = redact(f"POST https://hooks.slack.com/services/{'/'.join(tokens)} failed for {tokens[0]}")
    assert not [t for t in tokens if t in text] and "hooks.slack.com" in text


# -- settings -------------------------------------------------------------------------------------


def test_malformed_url_is_a_settings_error_without_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SettingsError) as caught:
        load_settings(
            None,
            database_url="sqlite:///unused.db",
            alerts={"apprise": {"urls": [f"json://127.0.0.1/{TOKEN}", f"nosuchservice://{TOKEN}@x"]}},
        )
    text = str(caught.value)
    assert "alerts.apprise.urls (COSTWATCH_ALERTS__APPRISE__URLS)" in text
    assert "URL number 2 (nosuchservice://...) is not a URL apprise can parse" in text
    assert "https://appriseit.com/services/" in text
    assert TOKEN not in text and TOKEN not in caplog.text  # apprise logs "Unparseable URL ..." at ERROR


def test_urls_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("COSTWATCH_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("COSTWATCH_DATABASE_URL", "sqlite:///unused.db")
    monkeypatch.setenv("COSTWATCH_ALERTS__APPRISE__URLS", f"json://127.0.0.1/a/{TOKEN}, json://127.0.0.1/b/{TOKEN}")
    monkeypatch.setenv("COSTWATCH_ALERTS__ROUTES", '{"quota": ["apprise"]}')
    settings = load_settings(None)
    assert len(settings.alerts.apprise.urls) == 2 and settings.alerts.routes == {"quota": ["apprise"]}
    assert TOKEN not in repr(settings) and TOKEN not in settings.model_dump_json()


def test_configured_channels_include_apprise(receiver: Receiver) -> None:
    settings = AlertSettings(apprise=AppriseSettings(urls=[SecretStr(receiver.url())]))
    channels = configured_channels(settings)
    assert set(channels) == {"apprise"} and isinstance(channels["apprise"], AppriseChannel)
    assert configured_channels(AlertSettings()) == {}


def test_format_message_is_the_card_wording() -> None:
    title, body = format_message(notification(event="reminder"))
    assert title.startswith("CRITICAL still firing since 2026-11-03 14:05 UTC: ")
    assert "\n- **Alert:** quota:sub-1:westus3:standardNCADSA100v4Family" in body


# -- through the outbox ---------------------------------------------------------------------------


def _outbox(engine: Engine, channel: str) -> list[OutboxMessage]:
    with Session(engine) as session:
        rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.channel == channel)))
        session.expunge_all()
        return rows


def _budget_posts(receiver: Receiver) -> list[Any]:
    return [p for p in receiver.posts if "proj-chatbot" in p[2]["title"] and "budget" in p[2]["message"]]


def test_budget_alert_through_the_outbox_is_retried_after_500_and_delivered_once(
    db_url: str, engine: Engine, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with emulator_at(MID_MONTH) as server:
        alerts = {
            "retry_seconds": 60,
            "budgets": [BUDGET],
            # anomalies go to email only: the apprise channel must not get them
            "routes": {"budget": ["apprise"], "anomaly": ["email"]},
            "email": {"smtp_host": "127.0.0.1", "sender": "costwatch@example.com", "recipients": ["ops@example.com"]},
            "apprise": {"urls": [receiver.url()], "timeout_seconds": 5},
        }
        settings = settings_for(server, db_url, alerts=alerts)
        collect_all(server, settings, engine)
        channels = configured_channels(settings.alerts)
        apprise_only = {"apprise": channels["apprise"]}
        now = MID_MONTH

        receiver.status = 500  # the receiver is down at first
        evaluate(settings, engine, now=now)
        first = deliver(settings, engine, apprise_only, now=now)
        assert first.retrying >= 1 and first.sent == 0
        [budget_row] = [m for m in _outbox(engine, "apprise") if m.alert_key.startswith("budget:")]
        assert budget_row.status == "pending" and budget_row.attempts == 1
        assert budget_row.last_error and "answered 500" in budget_row.last_error
        assert len(_budget_posts(receiver)) == 1

        receiver.status = 200
        deliver(settings, engine, apprise_only, now=now + timedelta(seconds=30))  # still backing off
        assert len(_budget_posts(receiver)) == 1
        second = deliver(settings, engine, apprise_only, now=now + timedelta(seconds=61))
        assert second.sent >= 1
        deliver(settings, engine, apprise_only, now=now + timedelta(hours=2))
        posts = _budget_posts(receiver)
        assert len(posts) == 2  # the refused attempt and the delivered one: delivered exactly once
        assert posts[1][2]["title"].startswith("CRITICAL firing: ")
        assert "http://127.0.0.1:8501/spend?project=proj-chatbot" in posts[1][2]["message"]

        rows = _outbox(engine, "apprise")
        assert {m.status for m in rows} == {"sent"}
        assert rows and all(not m.alert_key.startswith("anomaly:") for m in rows)
        assert [m for m in _outbox(engine, "email") if m.alert_key.startswith("anomaly:")], "routed to email"
        assert not [p for p in receiver.posts if "anomaly" in json.dumps(p[2]).lower()]
        assert all(TOKEN not in f"{m.answer} {m.last_error}" for m in rows)
        assert TOKEN not in caplog.text


def test_404_through_the_outbox_is_not_retried_and_the_reason_is_kept(
    db_url: str, engine: Engine, receiver: Receiver
) -> None:
    with emulator_at(MID_MONTH) as server:
        alerts = {"budgets": [BUDGET], "routes": {"budget": ["apprise"]}, "apprise": {"urls": [receiver.url()]}}
        settings = settings_for(server, db_url, alerts=alerts)
        collect_all(server, settings, engine)
        channels = configured_channels(settings.alerts)
        receiver.status = 404
        evaluate(settings, engine, now=MID_MONTH)
        first = deliver(settings, engine, channels, now=MID_MONTH)
        assert first.failed >= 1 and first.retrying == 0
        [row] = [m for m in _outbox(engine, "apprise") if m.alert_key.startswith("budget:")]
        assert row.status == "failed" and row.attempts == 1
        assert (
            row.last_error
            == "apprise delivery failed: apprise URL 1 (JSON) refused it: 404 (is the path in the URL right?)"
        )
        assert TOKEN not in row.last_error and "127.0.0.1" not in row.last_error
        posted = len(_budget_posts(receiver))
        receiver.status = 200
        deliver(settings, engine, channels, now=MID_MONTH + timedelta(hours=2))
        assert len(_budget_posts(receiver)) == posted == 1  # never tried again


def test_cli_evaluate_delivers_through_apprise_from_the_environment(
    db_url: str, engine: Engine, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    with emulator_at(MID_MONTH) as server:
        collect_all(server, settings_for(server, db_url), engine)
        for key in [k for k in os.environ if k.startswith("COSTWATCH_")]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("COSTWATCH_DATABASE_URL", db_url)
        runner = CliRunner()

        monkeypatch.setenv("COSTWATCH_ALERTS__APPRISE__URLS", f"nosuchservice://{TOKEN}")
        wrong = runner.invoke(cli, ["alerts", "evaluate"])
        assert wrong.exit_code != 0 and "COSTWATCH_ALERTS__APPRISE__URLS" in wrong.stderr
        assert "Traceback" not in wrong.stderr and TOKEN not in wrong.stderr + wrong.stdout

        monkeypatch.setenv("COSTWATCH_ALERTS__APPRISE__URLS", receiver.url())
        first = runner.invoke(cli, ["alerts", "evaluate"])
        assert first.exit_code == 0, first.stderr
        queued = int(re.search(r"(\d+) notification\(s\) queued", first.stdout).group(1))  # type: ignore[union-attr]
        assert queued >= 1 and f"delivered {queued}, retrying 0, failed 0" in first.stdout
        assert len(receiver.posts) == queued and any("anomaly" in json.dumps(p[2]) for p in receiver.posts)
        again = runner.invoke(cli, ["alerts", "evaluate"])
        assert again.exit_code == 0 and len(receiver.posts) == queued  # nothing twice
        assert TOKEN not in first.stdout + first.stderr + again.stdout + again.stderr
