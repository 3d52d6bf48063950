"""Alerts by e-mail: each notification as one multipart/alternative message (plain text + HTML, the
texts of collector/alerts/render.py), sent by collector/alerts/channels/smtp.py."""

from __future__ import annotations

import logging
from email.message import EmailMessage

from collector.alerts.channels.base import DeliveryError, Notification
from collector.alerts.channels.smtp import SmtpSender, header, new_message
from collector.alerts.render import one_line, render_email
from collector.settings import EmailSettings

log = logging.getLogger(__name__)


def alert_message(settings: EmailSettings, notification: Notification) -> EmailMessage:
    subject, text, html = render_email(notification)
    message = new_message(settings, subject)
    message["X-Costwatch-Alert"] = header("X-Costwatch-Alert", one_line(notification.alert_key))
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


class EmailChannel:
    """The [alerts.email] channel."""

    name = "email"

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self.sender = SmtpSender(settings)

    def send(self, notification: Notification) -> str:
        s = self.settings
        if not s.smtp_host or not s.sender or not s.recipients:
            raise DeliveryError(
                "email is not fully configured: [alerts.email] needs smtp_host, sender and recipients",
                retryable=False,
            )
        try:
            message = alert_message(s, notification)
        except ValueError as exc:  # a notification that cannot be rendered never will be
            raise DeliveryError(f"cannot write the email for alert {notification.alert_key}: {exc}", False) from exc
        answer = self.sender.send(message)
        log.debug("alert %s: %s", notification.alert_key, answer)
        return answer
