"""What every alert channel receives and promises."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Notification:
    """One message about one alert. Every text field may hold untrusted text from Azure (names, tags):
    channels escape it for their format."""

    alert_key: str
    rule: str  # quota | rate_limit | budget | budget_forecast | anomaly | marketplace | collection_health
    severity: str  # info | warning | critical
    event: str  # firing | reminder | resolved
    subject: str  # what and where, e.g. "standardNCADSA100v4Family in westus3 (sub ...)"
    message: str  # one sentence: what, how much, since when
    value: str | None
    threshold: str | None
    since: datetime
    link: str  # the dashboard page that shows it
    details: dict[str, str] = field(default_factory=dict)  # extra facts shown as a table


class DeliveryError(Exception):
    """Sending failed. `retryable` says whether trying again later may succeed. The message never
    contains a secret (password, webhook URL)."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Channel(Protocol):
    name: str  # "email" | "teams" | "apprise"

    def send(self, notification: Notification) -> str:
        """Deliver, or raise DeliveryError. Returns a short description of the receiver's answer."""
        ...


class RedactFilter(logging.Filter):
    """Rewrites a log record that would print a channel's secret (a webhook URL, a token in an apprise
    URL) through `redact`. A logger's filters see only records logged to it by name, not its
    children's: install() it on each logger the channel's HTTP stack logs to."""

    def __init__(self, redact: Callable[[str], str], drop_tracebacks: bool = False) -> None:
        super().__init__()
        self.redact, self.drop_tracebacks = redact, drop_tracebacks

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is the logging module's business, not ours
            return True
        clean = self.redact(text)
        if clean != text:
            record.msg, record.args = clean, None
        if self.drop_tracebacks and (record.exc_info or record.exc_text):
            # A traceback may print the secret in its exception, which redact() never sees.
            record.exc_info, record.exc_text = None, None
        return True

    def install(self, *loggers: str) -> None:
        for name in loggers:
            logging.getLogger(name).addFilter(self)
