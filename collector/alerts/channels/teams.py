"""Alerts in Microsoft Teams through a Workflows (Power Automate) "incoming webhook" trigger.

The webhook URL is a bearer secret: its query string holds the signature (`sig=...`) that lets
anyone post to the channel. It never goes into an error or a log line; messages say "the Teams
webhook" and at most its host. urllib3 itself logs request paths with their query string at DEBUG,
so this module also redacts the URL from urllib3's log records.
"""

from __future__ import annotations

import logging
import ssl
import threading
from urllib.parse import parse_qsl, urlsplit

import requests

from collector.alerts.channels.base import DeliveryError, Notification, RedactFilter
from collector.alerts.render import one_line, render_card
from collector.settings import TeamsSettings

log = logging.getLogger(__name__)

WEBHOOK = "the Teams webhook"
_BODY_CHARS = 300  # how much of an error answer goes into a message
_CONNECT_TIMEOUT = 10.0  # seconds; the read timeout is the setting

# Every form of every configured webhook URL that could show up in text, longest first. A tuple,
# replaced whole under the lock, so that log filters in other threads read it without locking.
_secrets: tuple[str, ...] = ()
_secrets_lock = threading.Lock()


def _register(url: str) -> None:
    global _secrets
    forms = {url}
    try:
        prepared = requests.Request("POST", url).prepare().url or url  # requests may re-quote it
    except requests.RequestException:
        prepared = url
    for form in (url, prepared):
        parts = urlsplit(form)
        forms.add(form)
        if parts.query:
            forms.add(parts.query)
            forms.add(f"{parts.path}?{parts.query}")  # what urllib3 logs
            # the signature alone (and any other long value), should something print just that
            forms.update(value for _, value in parse_qsl(parts.query) if len(value) >= 16)
            raw_values = (pair.partition("=")[2] for pair in parts.query.split("&"))
            forms.update(value for value in raw_values if len(value) >= 16)  # as sent, still %-quoted
    with _secrets_lock:
        _secrets = tuple(sorted(set(_secrets) | {f for f in forms if f}, key=len, reverse=True))


def redact(text: str) -> str:
    """text with every registered webhook URL (or its query string or signature) replaced."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, f"<{WEBHOOK}>")
    return text


RedactFilter(redact).install(
    "urllib3",
    "urllib3.connection",
    "urllib3.connectionpool",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "requests",
)


def _causes(exc: BaseException) -> list[BaseException]:
    """exc and what it wraps: requests wraps urllib3's MaxRetryError, which wraps the real reason."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
        elif current.args and isinstance(current.args[0], BaseException):
            current = current.args[0]
        else:
            current = current.__cause__ or current.__context__
    return chain


class TeamsChannel:
    """Posts each notification as an Adaptive Card to a Teams channel or chat."""

    name = "teams"

    def __init__(self, settings: TeamsSettings) -> None:
        self.settings = settings
        self._url = settings.webhook_url.get_secret_value() if settings.webhook_url else ""
        self._host = urlsplit(self._url).hostname or "?"  # the host alone is no secret, and helps
        if self._url:
            _register(self._url)

    def send(self, notification: Notification) -> str:
        if not self._url:
            raise DeliveryError("Teams is not configured: [alerts.teams] needs webhook_url", retryable=False)
        try:
            payload = render_card(notification)
        except ValueError as exc:  # a notification that cannot be rendered never will be
            raise DeliveryError(f"cannot write the card for alert {notification.alert_key}: {exc}", False) from exc
        where = f"{WEBHOOK} at {self._host}"
        # verify is always passed explicitly: requests lets REQUESTS_CA_BUNDLE override a verify=True,
        # and a ca_bundle given in the settings must win over the environment.
        verify: str | bool = str(self.settings.ca_bundle) if self.settings.ca_bundle else True
        try:
            response = requests.post(
                self._url,
                json=payload,
                timeout=(min(_CONNECT_TIMEOUT, self.settings.timeout_seconds), self.settings.timeout_seconds),
                verify=verify,
                # a redirected POST turns into a GET that drops the card: report it instead
                allow_redirects=False,
                headers={"User-Agent": "costwatch-alerts"},
            )
        # Every exception text of requests names the URL: none is chained ("from None") or quoted
        # without redact().
        except requests.exceptions.SSLError as exc:
            cert = next((e for e in _causes(exc) if isinstance(e, ssl.SSLCertVerificationError)), None)
            if cert is not None:
                raise DeliveryError(
                    f"the certificate of {where} is not trusted ({cert.verify_message}): set [alerts.teams] "
                    "ca_bundle to the PEM file of the CA that signed it",
                    retryable=False,
                ) from None
            raise DeliveryError(f"TLS with {where} failed: {self._reason(exc)}", retryable=True) from None
        except requests.exceptions.ConnectTimeout:
            raise DeliveryError(f"cannot connect to {where}: timed out", retryable=True) from None
        except requests.exceptions.Timeout:
            # The card may have been posted all the same: a retry risks a duplicate, not a loss.
            raise DeliveryError(
                f"{where} did not answer within {self.settings.timeout_seconds:g} s", retryable=True
            ) from None
        except requests.exceptions.RequestException as exc:
            raise DeliveryError(f"cannot reach {where}: {self._reason(exc)}", retryable=True) from None

        with response:
            status = response.status_code
            if 200 <= status < 300:
                # Workflows answers 202 once it has queued the flow run that posts the card.
                answer = f"{status} {response.reason or ''} from {WEBHOOK}".replace("  ", " ")
                log.debug("alert %s: %s", notification.alert_key, answer)
                return answer
            detail = self._body(response)
            if status in (408, 429) or status >= 500:
                wait = response.headers.get("Retry-After")
                hint = f" (Retry-After: {one_line(wait)[:20]})" if wait else ""
                raise DeliveryError(f"{where} answered {status}{hint}: {detail}", retryable=True)
            if 300 <= status < 400:
                raise DeliveryError(
                    f"{where} answered {status} (a redirect): check [alerts.teams] webhook_url", retryable=False
                )
            hint = {
                401: " (is the URL complete, with its sig= signature?)",
                403: " (is the URL complete, with its sig= signature?)",
                404: " (was the flow deleted, or turned off?)",
            }.get(status, "")
            raise DeliveryError(f"{where} refused the card: {status}{hint}: {detail}", retryable=False)

    @staticmethod
    def _body(response: requests.Response) -> str:
        try:
            text = response.text
        except Exception:  # an undecodable body still must not hide the status
            return "(unreadable answer)"
        text = redact(one_line(text))
        return text if len(text) <= _BODY_CHARS else text[: _BODY_CHARS - 1] + "…"

    @staticmethod
    def _reason(exc: BaseException) -> str:
        """The innermost cause, e.g. "[Errno 111] Connection refused", never the URL."""
        innermost = _causes(exc)[-1]
        text = redact(one_line(str(innermost) or type(innermost).__name__))
        return text if len(text) <= _BODY_CHARS else text[: _BODY_CHARS - 1] + "…"
