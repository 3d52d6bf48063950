"""The alert lifecycle and its outbox.

`evaluate` runs every rule, then in ONE transaction: new or returning conditions become firing
alerts, firing ones are updated (and reminded every `reminder_hours` unless acknowledged), ones whose
condition is gone become resolved; each notification to send is written to `alert_outbox` in that same
transaction. A crash before the commit leaves both unchanged; after it, both are there. Evaluating
again at once changes nothing, so evaluation is idempotent.

`deliver` sends what the outbox holds, oldest first, with retries and exponential backoff; a message
is marked sent only after its channel accepted it. A crash between the channel's answer and that mark
can resend one message (at-least-once); its alert key and event time travel with it so that receivers
can tell.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from collector.alerts.channels.base import Channel, DeliveryError, Notification
from collector.alerts.rules import RULES, Condition
from collector.db.models import Alert, OutboxMessage
from collector.runs import as_utc, utcnow
from collector.settings import Settings

log = logging.getLogger(__name__)

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass
class Evaluation:
    firing: list[str] = field(default_factory=list)  # keys that started firing
    reminded: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    still_firing: list[str] = field(default_factory=list)
    queued: int = 0  # outbox messages written
    errors: list[str] = field(default_factory=list)  # rules that could not run


def conditions(session: Session, settings: Settings, now: datetime) -> tuple[list[Condition], list[str]]:
    """Every rule's conditions; a rule that fails is reported, and its alerts are left as they are."""
    found: list[Condition] = []
    failed: list[str] = []
    for name, rule in RULES.items():
        try:
            found += rule(session, settings, now)
        except Exception as exc:  # one broken rule must not silence the others
            log.exception("alert rule %s failed", name)
            failed.append(f"{name}: {exc}")
    return found, failed


def evaluate(
    settings: Settings,
    engine: Engine,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    channels: list[str] | None = None,
) -> Evaluation:
    """Bring the alerts in line with the conditions that hold now, queueing what must be said."""
    now = now or utcnow()
    channels = channels if channels is not None else _enabled_channels(settings)
    result = Evaluation()
    reminder = timedelta(hours=settings.alerts.reminder_hours)
    with Session(engine) as session, session.begin():
        found, result.errors = conditions(session, settings, now)
        found = [c for c in found if not _muted(settings, c.key)]
        failed_rules = {e.split(":", 1)[0] for e in result.errors}
        current = {c.key: c for c in found}
        stored = {a.key: a for a in session.scalars(select(Alert))}
        for key, condition in current.items():
            alert = stored.get(key)
            if alert is None or alert.state == "resolved":
                alert = _fire(session, alert, condition, now)
                result.firing.append(key)
                _queue(session, settings, alert, "firing", now, channels, result)
                continue
            escalated = SEVERITY_RANK[condition.severity] > SEVERITY_RANK[alert.severity]
            _update(alert, condition, now)
            result.still_firing.append(key)
            last = as_utc(alert.last_notified_at) if alert.last_notified_at else None
            if escalated:
                _queue(session, settings, alert, "firing", now, channels, result)
            elif alert.acknowledged_at is None and (last is None or now - last >= reminder):
                result.reminded.append(key)
                _queue(session, settings, alert, "reminder", now, channels, result)
        for key, alert in stored.items():
            if alert.state == "firing" and key not in current and _rule_of(key) not in failed_rules:
                alert.state = "resolved"
                alert.resolved_at = now
                alert.last_seen = now
                result.resolved.append(key)
                _queue(session, settings, alert, "resolved", now, channels, result)
        if dry_run:
            session.rollback()
    return result


def _muted(settings: Settings, key: str) -> bool:
    override = settings.alerts.override_for(key)
    return override is not None and override.mute


def _rule_of(key: str) -> str:
    rule = key.split(":", 1)[0]
    return "budget" if rule == "budget_forecast" else rule


def _fire(session: Session, alert: Alert | None, condition: Condition, now: datetime) -> Alert:
    if alert is None:
        alert = Alert(key=condition.key, episodes=0)
        session.add(alert)
    alert.state = "firing"
    alert.first_seen = now
    alert.resolved_at = None
    alert.acknowledged_at = None
    alert.acknowledged_by = None
    alert.episodes = (alert.episodes or 0) + 1
    _update(alert, condition, now)
    return alert


def _update(alert: Alert, condition: Condition, now: datetime) -> None:
    alert.rule = condition.rule
    alert.severity = condition.severity
    alert.subject = condition.subject
    alert.message = condition.message
    alert.value = condition.value
    alert.threshold = condition.threshold
    alert.link = condition.link
    alert.details = dict(condition.details)
    alert.last_seen = now


def _queue(
    session: Session,
    settings: Settings,
    alert: Alert,
    event: str,
    now: datetime,
    channels: list[str],
    result: Evaluation,
) -> None:
    alert.last_notified_at = now
    if alert.silenced_until is not None and as_utc(alert.silenced_until) > now:
        return
    routed = settings.alerts.routes.get(alert.rule, channels)
    notification = Notification(
        alert_key=alert.key,
        rule=alert.rule,
        severity=alert.severity,
        event=event,
        subject=alert.subject,
        message=alert.message,
        value=alert.value,
        threshold=alert.threshold,
        since=as_utc(alert.first_seen),
        link=alert.link,
        details=dict(alert.details or {}),
    )
    for channel in routed:
        if channel not in channels:
            continue
        session.add(
            OutboxMessage(
                alert_key=alert.key,
                channel=channel,
                event=event,
                event_at=now,
                payload=_payload(notification),
                status="pending",
                attempts=0,
                next_attempt_at=now,
            )
        )
        result.queued += 1


def _payload(notification: Notification) -> dict[str, Any]:
    data = asdict(notification)
    data["since"] = notification.since.isoformat()
    return data


def _notification(payload: dict[str, Any]) -> Notification:
    return Notification(**{**payload, "since": datetime.fromisoformat(payload["since"])})


def _enabled_channels(settings: Settings) -> list[str]:
    alerts = settings.alerts
    enabled = (("email", alerts.email.enabled), ("teams", alerts.teams.enabled), ("apprise", alerts.apprise.enabled))
    return [name for name, on in enabled if on]


@dataclass
class Delivery:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def deliver(
    settings: Settings, engine: Engine, channels: dict[str, Channel], *, now: datetime | None = None, limit: int = 500
) -> Delivery:
    """Send due outbox messages; each outcome is committed on its own, so a crash loses no progress."""
    now = now or utcnow()
    outcome = Delivery()
    with Session(engine) as session:
        due = session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()
    for message_id in due:
        with Session(engine) as session, session.begin():
            message = session.get(OutboxMessage, message_id, with_for_update={"skip_locked": True})
            if message is None or message.status != "pending":
                continue  # another deliverer has it
            channel = channels.get(message.channel)
            message.attempts += 1
            try:
                if channel is None:
                    raise DeliveryError(f"channel {message.channel} is not configured", retryable=False)
                message.answer = channel.send(_notification(message.payload))[:500]
                message.status, message.sent_at, message.last_error = "sent", utcnow(), None
                outcome.sent += 1
            except DeliveryError as exc:
                message.last_error = str(exc)[:2000]
                if exc.retryable and message.attempts < settings.alerts.max_attempts:
                    delay = min(settings.alerts.retry_seconds * 2 ** (message.attempts - 1), 3600)
                    message.next_attempt_at = now + timedelta(seconds=delay)
                    outcome.retrying += 1
                    log.warning(
                        "alert %s to %s failed (attempt %d), retrying in %.0f s: %s",
                        message.alert_key,
                        message.channel,
                        message.attempts,
                        delay,
                        exc,
                    )
                else:
                    message.status = "failed"
                    outcome.failed += 1
                    log.error(
                        "alert %s to %s failed for good after %d attempt(s): %s",
                        message.alert_key,
                        message.channel,
                        message.attempts,
                        exc,
                    )
    return outcome


def acknowledge(engine: Engine, key: str, who: str, silence_for: timedelta | None = None) -> Alert:
    """Acknowledge a firing alert (no more reminders this episode), optionally silencing it for a while."""
    with Session(engine) as session, session.begin():
        alert = session.get(Alert, key)
        if alert is None:
            raise KeyError(key)
        alert.acknowledged_at = utcnow()
        alert.acknowledged_by = who
        if silence_for is not None:
            alert.silenced_until = utcnow() + silence_for
        session.flush()
        session.expunge(alert)
        return alert
