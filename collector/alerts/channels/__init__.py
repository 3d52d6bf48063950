"""Alert delivery channels: email (SMTP), Microsoft Teams (Workflows webhook) and apprise (Slack,
PagerDuty, Opsgenie, JSON webhooks...)."""

from __future__ import annotations

from collector.alerts.channels.apprise import AppriseChannel
from collector.alerts.channels.base import Channel, DeliveryError, Notification
from collector.alerts.channels.email import EmailChannel
from collector.alerts.channels.teams import TeamsChannel
from collector.settings import AlertSettings

__all__ = [
    "AppriseChannel",
    "Channel",
    "DeliveryError",
    "EmailChannel",
    "Notification",
    "TeamsChannel",
    "configured_channels",
]


def configured_channels(settings: AlertSettings) -> dict[str, Channel]:
    """The enabled channels by name ("email", "teams", "apprise"); a channel whose settings are unset is absent."""
    channels: dict[str, Channel] = {}
    if settings.email.enabled:
        channels[EmailChannel.name] = EmailChannel(settings.email)
    if settings.teams.enabled:
        channels[TeamsChannel.name] = TeamsChannel(settings.teams)
    if settings.apprise.enabled:
        channels[AppriseChannel.name] = AppriseChannel(settings.apprise)
    return channels
