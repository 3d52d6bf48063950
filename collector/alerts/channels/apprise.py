"""Alerts through apprise (https://appriseit.com): one URL a target (slack://, pagerduty://, opsgenie://,
json://HOST/PATH ...).

Three things apprise does not do for us, done here:

- It says only True or False. Whether a failure is worth retrying depends on the HTTP answer, so while
  this channel sends, every HTTP exchange that goes through requests (which all of apprise's HTTP
  plugins use) is recorded in a thread-local list by a thin wrapper around `HTTPAdapter.send`; the
  wrapper does nothing in other threads or outside a send.
- Its URLs embed the service's token, and apprise logs them ("Loaded JSON URL: json://...",
  "Unparseable URL ..."), as urllib3 logs request paths at DEBUG. Every piece of every configured URL
  is registered before apprise first sees it, and a filter on those loggers rewrites records holding one.
- Messages name a URL by its number in `[alerts.apprise] urls` and its service ("URL 1 (JSON)"),
  never by its host: for slack:// the "host" is a token.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import requests
import requests.adapters

from collector.alerts.channels.base import DeliveryError, Notification, RedactFilter
from collector.alerts.render import one_line, render_card
from collector.extras import require
from collector.settings import AppriseSettings

log = logging.getLogger(__name__)

SERVICES_PAGE = "https://appriseit.com/services/"
_CONNECT_TIMEOUT = 10.0  # seconds; the read timeout is the setting
_REDACTED = "<apprise URL>"
_MIN_SECRET = 6  # shorter pieces of a URL ("hook", "v1") are no secret and would mangle every log line

# -- keeping URLs out of logs and messages --------------------------------------------------------

# Every secret piece of every configured URL, longest first. A tuple replaced whole under the lock:
# log filters in other threads read it without locking.
_secrets: tuple[str, ...] = ()
_secrets_lock = threading.Lock()
_HOSTNAME = re.compile(r"^(localhost|[0-9.]+|\[[0-9a-fA-F:]+\]|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)$")


def _pieces(url: str) -> set[str]:
    """The URL and each part of it that may be a token: user, password, a host that is not a host
    name (slack://TOKEN_A/...), path segments, query values; each also %-quoted and unquoted."""
    pieces = {url}
    rest = url.partition("://")[2]
    if not _HOSTNAME.match(rest.split(":")[0].rstrip("/")) or "/" in rest.rstrip("/"):
        pieces.add(rest)  # what apprise logs after its own scheme ("JSON POST URL: http://...")
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]  # as written: .hostname lowercases, and tokens have case
        host = host.partition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]
        candidates = [parts.username or "", parts.password or "", parts.path, parts.query]
        if host and not _HOSTNAME.match(host):
            candidates.append(host)
        candidates += parts.path.split("/")
        candidates += [value for _, value in parse_qsl(parts.query)]
        candidates += [pair.partition("=")[2] for pair in parts.query.split("&")]
        if parts.password and len(parts.password) >= 4:
            pieces.add(parts.password)  # a password counts even when short
    except ValueError:  # an unparseable URL: its whole text is registered, and that must do
        candidates = []
    for candidate in candidates:
        for form in (candidate, unquote(candidate), quote(candidate, safe="")):
            if len(form) >= _MIN_SECRET:
                pieces.add(form)
    return {p for p in pieces if p}


def register(url: str) -> None:
    """Remember url's secret pieces for redact(); call before apprise (or anything) sees the URL."""
    global _secrets
    pieces = _pieces(url)
    with _secrets_lock:
        _secrets = tuple(sorted(set(_secrets) | pieces, key=len, reverse=True))


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, _REDACTED)
    return text


RedactFilter(redact, drop_tracebacks=True).install(
    "apprise", "urllib3", "urllib3.connection", "urllib3.connectionpool", "urllib3.util.retry", "requests"
)


# -- what the HTTP peers answered -----------------------------------------------------------------


@dataclass
class _Exchange:
    status: int | None  # None: no answer
    error: BaseException | None = None


_local = threading.local()


def _recording(send: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(send)
    def wrapper(self: requests.adapters.HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
        exchanges: list[_Exchange] | None = getattr(_local, "exchanges", None)
        if exchanges is None:  # not sending for this channel: pass through untouched
            return send(self, request, *args, **kwargs)
        try:
            response = send(self, request, *args, **kwargs)
        except Exception as exc:
            exchanges.append(_Exchange(None, exc))
            raise
        exchanges.append(_Exchange(response.status_code))
        return response

    wrapper._costwatch_recording = True  # type: ignore[attr-defined]
    return wrapper


if not getattr(requests.adapters.HTTPAdapter.send, "_costwatch_recording", False):
    requests.adapters.HTTPAdapter.send = _recording(requests.adapters.HTTPAdapter.send)  # type: ignore[method-assign]


@contextmanager
def _record() -> Iterator[list[_Exchange]]:
    exchanges: list[_Exchange] = []
    _local.exchanges = exchanges
    try:
        yield exchanges
    finally:
        _local.exchanges = None


# -- settings check -------------------------------------------------------------------------------


def _scheme(url: str) -> str:
    scheme = url.partition("://")[0] if "://" in url else ""
    return scheme if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,19}", scheme) else "?"


def _instantiate(url: str) -> Any:
    require("apprise", "the [alerts.apprise] channel", "apprise")
    import apprise  # here, not at the top: loading its ~190 plugins takes most of a second

    register(url)
    return apprise.Apprise.instantiate(url)


def unparseable(url: str) -> str | None:
    """Why apprise cannot use url, without quoting more of it than its scheme; None if it can."""
    if _instantiate(url) is not None:
        return None
    return (
        f"({_scheme(url)}://...) is not a URL apprise can parse: write it as the service's page at "
        f"{SERVICES_PAGE} shows, e.g. json://HOST:PORT/PATH or slack://TOKEN_A/TOKEN_B/TOKEN_C"
    )


# -- the message ----------------------------------------------------------------------------------


def format_message(notification: Notification) -> tuple[str, str]:
    """(title, Markdown body) of a notification. The wording and escaping are the Teams card's: every
    text from Azure is backslash-escaped for Markdown and on one line, so a name like "[x](http://evil)"
    shows literally where the target renders Markdown; the link is the only markup that links."""
    card = render_card(notification)["attachments"][0]["content"]
    title_block, summary_block, factset = card["body"]
    lines = [summary_block["text"], ""]
    lines += [f"- **{fact['title']}:** {fact['value']}" for fact in factset["facts"]]
    link = notification.link.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    lines += ["", f"[Open in costwatch]({one_line(link)})"]
    return title_block["text"], "\n".join(lines)


def _notify_type(notification: Notification) -> str:
    """apprise's notify type, which PagerDuty, Opsgenie and others map to their own severity."""
    if notification.event == "resolved":
        return "success"
    return {"critical": "failure", "warning": "warning"}.get(notification.severity, "info")


# -- the channel ----------------------------------------------------------------------------------


@dataclass
class _Target:
    number: int  # 1-based, as in `[alerts.apprise] urls`
    plugin: Any  # apprise's NotifyBase, None if it cannot parse the URL
    label: str = field(init=False)

    def __post_init__(self) -> None:
        service = one_line(str(getattr(self.plugin, "service_name", "") or "apprise")) if self.plugin else "?"
        self.label = f"apprise URL {self.number} ({service})"


def _retryable(exchanges: list[_Exchange]) -> tuple[bool, str]:
    """Whether the last HTTP exchange of a failed send is worth retrying, and what it was."""
    if not exchanges:
        # No HTTP at all (a plugin that speaks SMTP, MQTT, syslog...): apprise does not say why.
        return True, "failed without an HTTP answer (apprise gives no reason)"
    last = exchanges[-1]
    if last.status is None:
        error = last.error
        if isinstance(error, requests.exceptions.SSLError):
            return False, "TLS failed (is the certificate trusted?)"
        if isinstance(error, requests.exceptions.Timeout):
            return True, "timed out"
        return True, "could not connect"
    status = last.status
    if status in (408, 429) or status >= 500:
        return True, f"answered {status}"
    if 200 <= status < 300:
        # e.g. Slack's API answers 200 with {"ok": false, "error": "invalid_auth"}
        return False, f"answered {status} but apprise read it as a refusal"
    hint = {
        401: " (is the token in the URL right?)",
        403: " (is the token in the URL right?)",
        404: " (is the path in the URL right?)",
    }.get(status, "")
    return False, f"refused it: {status}{hint}"


class AppriseChannel:
    """Sends each notification to every configured apprise URL, one after the other."""

    name = "apprise"

    def __init__(self, settings: AppriseSettings) -> None:
        self.settings = settings
        self._targets = [
            _Target(number, _instantiate(url.get_secret_value())) for number, url in enumerate(settings.urls, 1)
        ]
        connect = min(_CONNECT_TIMEOUT, settings.timeout_seconds)
        for target in self._targets:
            if target.plugin is not None:
                target.plugin.socket_connect_timeout = connect
                target.plugin.socket_read_timeout = settings.timeout_seconds

    def send(self, notification: Notification) -> str:
        if not self._targets:
            raise DeliveryError("apprise is not configured: [alerts.apprise] needs urls", retryable=False)
        try:
            title, body = format_message(notification)
        except ValueError as exc:  # a notification that cannot be rendered never will be
            raise DeliveryError(f"cannot write the message for alert {notification.alert_key}: {exc}", False) from exc
        sent: list[str] = []
        failures: list[tuple[bool, str]] = []
        for target in self._targets:
            if target.plugin is None:
                failures.append((False, f"{target.label}: apprise cannot parse it (check [alerts.apprise] urls)"))
                continue
            ok, exchanges = self._notify(target, title, body, _notify_type(notification))
            if ok:
                sent.append(target.label)
            else:
                retryable, why = _retryable(exchanges)
                failures.append((retryable, f"{target.label} {why}"))
        detail = redact("; ".join(text for _, text in failures))
        if any(retryable for retryable, _ in failures):
            # A retry sends to every URL again: the ones that took it get a duplicate, not a loss.
            raise DeliveryError(f"apprise delivery failed: {detail}", retryable=True)
        if not sent:
            raise DeliveryError(f"apprise delivery failed: {detail}", retryable=False)
        answer = f"sent by apprise to {len(sent)} URL(s)"
        if failures:
            log.warning("some apprise URLs refused alert %s for good: %s", notification.alert_key, detail)
            answer += f"; refused: {detail}"
        log.debug("alert %s: %s", notification.alert_key, answer)
        return answer

    @staticmethod
    def _notify(target: _Target, title: str, body: str, notify_type: str) -> tuple[bool, list[_Exchange]]:
        import apprise

        with _record() as exchanges:
            try:
                ok = bool(
                    target.plugin.notify(
                        body=body, title=title, notify_type=notify_type, body_format=apprise.NotifyFormat.MARKDOWN
                    )
                )
            except Exception as exc:  # a plugin's bug must not stop the outbox; its text may hold the URL
                log.warning("%s raised %s", target.label, type(exc).__name__)
                ok = False
        return ok, exchanges
