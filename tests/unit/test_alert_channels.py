"""Alert delivery against real receivers: an aiosmtpd SMTP server and a local HTTPS stand-in for the
Teams Workflows webhook, both started here on free loopback ports; and the rendering of the messages."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
import socket
import ssl
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from collector.alerts.channels import (
    DeliveryError,
    EmailChannel,
    Notification,
    TeamsChannel,
    configured_channels,
)
from collector.alerts.render import escape_markdown, one_line, render_card, render_email
from collector.settings import AlertSettings, EmailSettings, TeamsSettings

HOSTILE = "<script>alert(1)</script> **bold** [link](http://evil) _x_ #h ~s~ | `c`"
SINCE = datetime(2026, 11, 3, 14, 5, tzinfo=UTC)
NOW = datetime(2026, 11, 5, 17, 6, tzinfo=UTC)
LINK = "http://127.0.0.1:8501/Quota?subscription=sub-1&region=westus3"
PASSWORD = "planted-smtp-password-4e1f"
USER = "alerts@example.com"
SIG = "PlantedWebhookSignature0123456789abcdef"
RECIPIENTS = ["platform@example.com", "finance@example.com"]


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receivers are on loopback: a proxy from the environment must not stand in between."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def notification(**changes: Any) -> Notification:
    values: dict[str, Any] = {
        "alert_key": "quota:sub-1:westus3:standardNCADSA100v4Family",
        "rule": "quota",
        "severity": "critical",
        "event": "firing",
        "subject": f"standardNCADSA100v4Family in westus3 {HOSTILE}",
        "message": "96 of 100 vCPUs of standardNCADSA100v4Family are in use in westus3.",
        "value": "96%",
        "threshold": "95%",
        "since": SINCE,
        "link": LINK,
        "details": {"subscription": "sub-1", "tag": "- [x](http://evil) <b>"},
    }
    values.update(changes)
    return Notification(**values)


def free_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def leaked(exc: BaseException, secret: str) -> bool:
    """Whether the secret shows in the exception or in its traceback as a log handler would print it."""
    return secret in str(exc) or secret in "".join(traceback.format_exception(exc))


# -- TLS material ---------------------------------------------------------------------------------


@dataclass
class Tls:
    server: ssl.SSLContext  # presents a certificate for 127.0.0.1 signed by a throwaway CA
    ca_path: Path  # that CA, as the ca_bundle of the settings


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca_path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    return Tls(context, ca_path)


# -- the SMTP server ------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    authenticated: bool


@dataclass
class Inbox:
    """The aiosmtpd handler: keeps what it accepted, and answers as a test tells it to."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients answered 550
    data_reply: str = "250 2.0.0 Ok: queued as Q1234"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply.startswith("250"):
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    message,
                    server.transport.get_extra_info("ssl_object") is not None,
                    bool(session.authenticated),
                )
            )
        return self.data_reply


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    # handled=False: aiosmtpd then answers 535 itself (with the default, it answers nothing at all)
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., Inbox]]:
    """Starts an aiosmtpd server with the given options (tls_context=, ssl_context=, authenticator=,
    ...) on a free port; stops it after the test."""
    controllers: list[Controller] = []

    def start(**options: Any) -> Inbox:
        inbox = Inbox(port=free_port())
        controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, ready_timeout=5, **options)
        controller.start()
        controllers.append(controller)
        return inbox

    yield start
    for controller in controllers:
        controller.stop()


def email_settings(port: int, **changes: Any) -> EmailSettings:
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "sender": "costwatch@example.com",
        "recipients": RECIPIENTS,
        "starttls": False,
        "timeout_seconds": 5,
    }
    values.update(changes)
    return EmailSettings(**values)


def test_email_plain_delivers_text_and_html(smtp_server: Callable[..., Inbox]) -> None:
    inbox = smtp_server()
    answer = EmailChannel(email_settings(inbox.port)).send(notification())

    assert answer.startswith("250 accepted by 127.0.0.1 for 2 recipient(s)")
    assert "Q1234" in answer  # the server's queue ID, for tracing
    [got] = inbox.received
    assert got.mail_from == "costwatch@example.com"
    assert got.rcpt_tos == RECIPIENTS
    message = got.message
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == f"[costwatch] CRITICAL firing: standardNCADSA100v4Family in westus3 {HOSTILE}"
    assert message["To"] == ", ".join(RECIPIENTS)
    assert message["Message-ID"].endswith("@example.com>")
    assert message["Date"].datetime.tzinfo is not None
    assert message["Auto-Submitted"] == "auto-generated"
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert text_part is not None and html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    for body in (text, html):
        assert "standardNCADSA100v4Family in westus3" in body
        assert "96%" in body and "95%" in body
        assert "2026-11-03 14:05 UTC" in body
    assert HOSTILE in text  # plain text shows names as they are
    assert LINK in text
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;" in html  # details are escaped too
    assert f'href="{LINK.replace("&", "&amp;")}"' in html


def test_email_non_ascii_names_travel_7bit(smtp_server: Callable[..., Inbox]) -> None:
    inbox = smtp_server()
    # long enough to be folded over lines, with spaces where encoded words split
    name = "Förderprojekt 東京 — ĳ, Kostenstelle Überwachung und Prüfung 東京 — ĳ"
    n = notification(subject=name, alert_key=f"budget:{name}", details={"Kostenstelle": name})
    EmailChannel(email_settings(inbox.port)).send(n)
    [got] = inbox.received
    assert got.message["Subject"] == f"[costwatch] CRITICAL firing: {name}"
    assert got.message["X-Costwatch-Alert"] == f"budget:{name}"
    for part in got.message.iter_parts():
        assert part["Content-Transfer-Encoding"] in ("7bit", "quoted-printable", "base64")
        assert name in part.get_content()


def test_email_subject_cannot_inject_headers(smtp_server: Callable[..., Inbox]) -> None:
    inbox = smtp_server()
    EmailChannel(email_settings(inbox.port)).send(notification(subject="quota\r\nBcc: victim@example.com"))
    [got] = inbox.received
    assert got.rcpt_tos == RECIPIENTS
    assert got.message["Bcc"] is None
    assert got.message["Subject"] == "[costwatch] CRITICAL firing: quota Bcc: victim@example.com"


def test_email_starttls_with_login(smtp_server: Callable[..., Inbox], tls: Tls) -> None:
    inbox = smtp_server(tls_context=tls.server, require_starttls=True, authenticator=authenticator)
    settings = email_settings(
        inbox.port, starttls=True, ca_bundle=tls.ca_path, username=USER, password=SecretStr(PASSWORD)
    )
    EmailChannel(settings).send(notification())
    [got] = inbox.received
    assert got.tls and got.authenticated


def test_email_implicit_tls(smtp_server: Callable[..., Inbox], tls: Tls) -> None:
    inbox = smtp_server(ssl_context=tls.server)
    EmailChannel(email_settings(inbox.port, tls=True, ca_bundle=tls.ca_path)).send(notification())
    [got] = inbox.received
    assert got.tls


def test_email_untrusted_certificate_is_not_retried(smtp_server: Callable[..., Inbox], tls: Tls) -> None:
    inbox = smtp_server(tls_context=tls.server, require_starttls=True)
    with pytest.raises(DeliveryError) as caught:
        EmailChannel(email_settings(inbox.port, starttls=True)).send(notification())  # no ca_bundle
    assert not caught.value.retryable
    assert "ca_bundle" in str(caught.value)
    assert not inbox.received


def test_email_refuses_to_fall_back_to_plain_text(smtp_server: Callable[..., Inbox]) -> None:
    inbox = smtp_server()  # offers no STARTTLS
    with pytest.raises(DeliveryError) as caught:
        EmailChannel(email_settings(inbox.port, starttls=True)).send(notification())
    assert not caught.value.retryable
    assert "STARTTLS" in str(caught.value)
    assert not inbox.received


def test_email_wrong_password_is_not_retried_and_not_shown(smtp_server: Callable[..., Inbox]) -> None:
    # Plain-text AUTH only for this test server: aiosmtpd refuses it unless told otherwise.
    inbox = smtp_server(authenticator=authenticator, auth_require_tls=False)
    wrong = "planted-wrong-password-77c2"
    settings = email_settings(inbox.port, username=USER, password=SecretStr(wrong))
    with pytest.raises(DeliveryError) as caught:
        EmailChannel(settings).send(notification())
    assert not caught.value.retryable
    assert "535" in str(caught.value) and USER in str(caught.value)
    assert not leaked(caught.value, wrong)
    assert not inbox.received


def test_email_password_auth_cannot_send_is_not_shown(smtp_server: Callable[..., Inbox]) -> None:
    inbox = smtp_server(authenticator=authenticator, auth_require_tls=False)
    odd = "planted-pässwort-90d1"  # smtplib sends AUTH as ASCII only
    with pytest.raises(DeliveryError) as caught:
        EmailChannel(email_settings(inbox.port, username=USER, password=SecretStr(odd))).send(notification())
    assert not caught.value.retryable
    assert not leaked(caught.value, odd)


def test_email_temporary_rejection_is_retried(smtp_server: Callable[..., Inbox]) -> None:
    inbox = smtp_server()
    inbox.data_reply = "451 4.3.0 queue full, try later"
    with pytest.raises(DeliveryError) as caught:
        EmailChannel(email_settings(inbox.port)).send(notification())
    assert caught.value.retryable
    assert "451" in str(caught.value)


def test_email_every_recipient_refused_is_not_retried(smtp_server: Callable[..., Inbox]) -> None:
    inbox = smtp_server()
    inbox.refuse = set(RECIPIENTS)
    with pytest.raises(DeliveryError) as caught:
        EmailChannel(email_settings(inbox.port)).send(notification())
    assert not caught.value.retryable
    assert "550" in str(caught.value) and "finance@example.com" in str(caught.value)


def test_email_some_recipients_refused_is_a_success_that_says_so(smtp_server: Callable[..., Inbox]) -> None:
    # Retrying would send the accepted recipient a duplicate.
    inbox = smtp_server()
    inbox.refuse = {"finance@example.com"}
    answer = EmailChannel(email_settings(inbox.port)).send(notification())
    assert "for 1 recipient(s)" in answer and "refused finance@example.com: 550" in answer
    assert inbox.received[0].rcpt_tos == ["platform@example.com"]


def test_email_server_down_is_retried() -> None:
    with pytest.raises(DeliveryError) as caught:
        EmailChannel(email_settings(free_port())).send(notification())
    assert caught.value.retryable
    assert "cannot reach the SMTP server 127.0.0.1" in str(caught.value)


def test_email_silent_server_times_out_and_is_retried() -> None:
    with socket.socket() as silent:  # accepts connections (in the kernel) but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings = email_settings(silent.getsockname()[1], timeout_seconds=0.5)
        with pytest.raises(DeliveryError) as caught:
            EmailChannel(settings).send(notification())
    assert caught.value.retryable
    assert "did not answer within 0.5 s" in str(caught.value)


# -- the Teams webhook stand-in -------------------------------------------------------------------


@dataclass
class Webhook:
    """What the HTTPS receiver got, and what it answers next."""

    port: int = 0
    posts: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    status: int = 202
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def url(self, port: int | None = None) -> str:
        return (
            f"https://127.0.0.1:{port or self.port}/workflows/5a3c0b2e/triggers/manual/paths/invoke"
            f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}"
        )


@pytest.fixture
def webhook(tls: Tls) -> Iterator[Webhook]:
    state = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            state.posts.append((self.path, dict(self.headers), json.loads(self.rfile.read(length))))
            self.send_response(state.status)
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test's output is no place for an access log

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = tls.server.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def teams(url: str, **changes: Any) -> TeamsChannel:
    return TeamsChannel(TeamsSettings(webhook_url=SecretStr(url), **changes))


def test_teams_posts_an_adaptive_card(
    webhook: Webhook, tls: Tls, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The environment names another bundle: the settings' ca_bundle must still be the one used.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())
    caplog.set_level(logging.DEBUG)
    answer = teams(webhook.url(), ca_bundle=tls.ca_path).send(notification())

    assert answer == "202 Accepted from the Teams webhook"
    [(path, headers, payload)] = webhook.posts
    assert path.endswith(f"sig={SIG}")
    assert headers["Content-Type"] == "application/json"
    assert payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    title, summary, factset = card["body"]
    assert title["type"] == summary["type"] == "TextBlock"
    assert title["text"].startswith("CRITICAL firing: standardNCADSA100v4Family in westus3 ")
    assert "96 of 100 vCPUs" in summary["text"] and "2026-11-03 14:05 UTC" in summary["text"]
    facts = {fact["title"]: fact["value"] for fact in factset["facts"]}
    assert facts["Value"] == "96%" and facts["Threshold"] == "95%"
    assert facts["Since"].startswith("2026-11-03 14:05 UTC")
    assert facts["subscription"] == "sub-1"
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open in costwatch", "url": LINK}]
    # urllib3 logged the request line, with the URL taken out
    assert '"POST <the Teams webhook> HTTP/1.1" 202' in caplog.text
    assert SIG not in caplog.text


def test_teams_card_shows_hostile_names_literally(webhook: Webhook, tls: Tls) -> None:
    teams(webhook.url(), ca_bundle=tls.ca_path).send(notification(subject=f"{HOSTILE}\n# heading"))
    card = webhook.posts[0][2]["attachments"][0]["content"]
    title = card["body"][0]["text"]
    assert r"\<script\>alert\(1\)\</script\>" in title
    assert r"\*\*bold\*\*" in title and r"\[link\]\(http://evil\)" in title
    assert "\n" not in title and r"\# heading" in title
    facts = {fact["title"]: fact["value"] for fact in card["body"][2]["facts"]}
    assert facts["tag"] == r"\- \[x\]\(http://evil\) \<b\>"  # a leading "- " would start a list
    # every text, unescaped as markdown does, is the original text
    assert re.sub(r"\\(.)", r"\1", title) == one_line(f"CRITICAL firing: {HOSTILE}\n# heading")


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (429, True), (400, False), (401, False), (404, False)],
)
def test_teams_errors(
    webhook: Webhook, tls: Tls, caplog: pytest.LogCaptureFixture, status: int, retryable: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    webhook.status = status
    webhook.headers = {"Retry-After": "30"} if status == 429 else {}
    # Logic Apps' error bodies may quote the request: it must not come back through ours
    webhook.body = json.dumps({"error": {"code": "Bad", "message": f"for {webhook.url()}"}}).encode()
    with pytest.raises(DeliveryError) as caught:
        teams(webhook.url(), ca_bundle=tls.ca_path).send(notification())
    assert caught.value.retryable is retryable
    assert str(status) in str(caught.value) and "the Teams webhook" in str(caught.value)
    if status == 429:
        assert "Retry-After: 30" in str(caught.value)
    logging.getLogger("costwatch.test").error("delivery failed", exc_info=caught.value)
    assert not leaked(caught.value, SIG)
    assert SIG not in caplog.text


def test_teams_receiver_down_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = Webhook().url(free_port())
    with pytest.raises(DeliveryError) as caught:
        teams(url).send(notification())
    assert caught.value.retryable
    assert "cannot reach the Teams webhook at 127.0.0.1" in str(caught.value)
    assert "refused" in str(caught.value).lower()
    logging.getLogger("costwatch.test").error("delivery failed", exc_info=caught.value)
    assert not leaked(caught.value, SIG)
    assert "invoke" not in str(caught.value)  # not even the path
    assert SIG not in caplog.text


def test_teams_silent_receiver_times_out_and_is_retried() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.raises(DeliveryError) as caught:
            teams(Webhook().url(silent.getsockname()[1]), timeout_seconds=0.5).send(notification())
    assert caught.value.retryable
    assert not leaked(caught.value, SIG)


def test_teams_untrusted_certificate_is_not_retried(webhook: Webhook) -> None:
    with pytest.raises(DeliveryError) as caught:
        teams(webhook.url()).send(notification())  # no ca_bundle: the system store does not know the CA
    assert not caught.value.retryable
    assert "ca_bundle" in str(caught.value)
    assert not leaked(caught.value, SIG)
    assert not webhook.posts


def test_an_unknown_event_is_a_permanent_failure() -> None:
    with pytest.raises(DeliveryError) as caught:
        teams(Webhook().url(free_port())).send(notification(event="exploded"))
    assert not caught.value.retryable


# -- rendering ------------------------------------------------------------------------------------


def test_render_firing() -> None:
    subject, text, html = render_email(notification(), now=NOW)
    assert subject.startswith("[costwatch] CRITICAL firing: standardNCADSA100v4Family in westus3")
    assert "Firing since 2026-11-03 14:05 UTC." in text
    assert "96% against a threshold of 95%" in text and "96% against a threshold of 95%" in html
    assert "Open in costwatch: " + LINK in text


def test_render_reminder() -> None:
    subject, text, html = render_email(notification(event="reminder", severity="warning"), now=NOW)
    assert subject.startswith("[costwatch] WARNING still firing since 2026-11-03 14:05 UTC: ")
    assert "Still firing, since 2026-11-03 14:05 UTC (2 days 3 hours)." in text
    assert "2 days 3 hours" in html
    card = render_card(notification(event="reminder", severity="warning"), now=NOW)["attachments"][0]["content"]
    assert card["body"][0]["text"].startswith("WARNING still firing since 2026\\-11\\-03") is False
    assert card["body"][0]["text"].startswith("WARNING still firing since 2026-11-03 14:05 UTC: ")
    assert card["body"][0]["color"] == "Warning"


def test_render_resolved() -> None:
    n = notification(event="resolved", value="71%")
    subject, text, html = render_email(n, now=NOW)
    assert subject.startswith("[costwatch] RESOLVED: standardNCADSA100v4Family in westus3")
    assert "Resolved after 2 days 3 hours; it had been firing since 2026-11-03 14:05 UTC." in text
    assert "71% against a threshold of 95%" in text
    assert "RESOLVED" in html
    card = render_card(n, now=NOW)["attachments"][0]["content"]
    assert card["body"][0]["text"].startswith("RESOLVED: ")
    assert card["body"][0]["color"] == "Good"
    assert card["actions"][0]["url"] == LINK


def test_render_without_value_or_threshold() -> None:
    n = notification(rule="collection_health", value=None, threshold=None, details={})
    _, text, _ = render_email(n, now=NOW)
    assert "Value:     -" in text
    facts = render_card(n, now=NOW)["attachments"][0]["content"]["body"][2]["facts"]
    assert {"title": "Value", "value": "-"} in facts


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_markdown_escape_round_trips(text: str) -> None:
    escaped = escape_markdown(text)
    assert "\n" not in escaped
    assert re.sub(r"\\(.)", r"\1", escaped) == one_line(text)
    # nothing markdown could read as markup is left unescaped
    assert not re.search(r"(?<!\\)[*_\[\]()<>`~#|]", re.sub(r"\\.", "", escaped))


# -- which channels are on ------------------------------------------------------------------------


def test_configured_channels() -> None:
    assert configured_channels(AlertSettings()) == {}
    settings = AlertSettings(
        email=EmailSettings(smtp_host="smtp.example.com", sender="a@example.com", recipients="b@example.com"),
        teams=TeamsSettings(webhook_url=SecretStr(Webhook().url(443))),
    )
    channels = configured_channels(settings)
    assert set(channels) == {"email", "teams"}
    assert isinstance(channels["email"], EmailChannel) and channels["email"].name == "email"
    assert isinstance(channels["teams"], TeamsChannel) and channels["teams"].name == "teams"
    assert SIG not in repr(settings)
