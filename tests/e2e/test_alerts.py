"""Alert rules against the emulator's scenarios, the alert lifecycle and the outbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from collector.alerts.channels.base import DeliveryError, Notification
from collector.alerts.engine import acknowledge, deliver, evaluate
from collector.db.models import Alert, OutboxMessage
from collector.jobs.costs import collect
from collector.jobs.inventory import run_inventory
from collector.jobs.quota import run_quota
from collector.jobs.traffic import run_metrics
from collector.runs import utcnow
from collector.settings import Settings
from tests.emulated import MID_MONTH, collect_all, emulator, emulator_at, settings_for


@dataclass
class Recorder:
    """A channel that keeps what it is sent; `down` makes it fail like an unreachable receiver."""

    name: str = "email"
    down: bool = False
    received: list[Notification] = field(default_factory=list)

    def send(self, notification: Notification) -> str:
        if self.down:
            raise DeliveryError("receiver unreachable", retryable=True)
        self.received.append(notification)
        return "250 accepted"


def _settings(server, db_url: str, **alerts) -> Settings:
    return settings_for(
        server,
        db_url,
        metrics={"first_lookback_hours": 3},
        alerts={
            "email": {"smtp_host": "127.0.0.1", "sender": "costwatch@example.com", "recipients": ["ops@example.com"]},
            **alerts,
        },
    )


def _fill(server, settings: Settings, engine: Engine, now: datetime | None = None) -> None:
    collect_all(server, settings, engine)
    run_quota(settings, engine)
    run_metrics(settings, engine, now=now)


def _rules(engine: Engine) -> dict[str, set[str]]:
    with Session(engine) as session:
        out: dict[str, set[str]] = {}
        for alert in session.scalars(select(Alert).where(Alert.state == "firing")):
            out.setdefault(alert.rule, set()).add(alert.key)
        return out


def test_each_rule_fires_for_its_scenario(db_url: str, engine: Engine) -> None:
    with emulator_at(MID_MONTH) as server:
        month = server.tenant.today.replace(day=1)
        settings = _settings(
            server,
            db_url,
            budgets=[
                {"scope": "project", "name": "proj-chatbot", "amount": "100", "currency": "USD"},
                {"scope": "project", "name": "proj-search", "amount": "1000000", "currency": "USD"},
            ],
        )
        _fill(server, settings, engine, now=MID_MONTH)
        server.tenant.step()  # proj-chatbot's Mistral-large is suspended
        server.tenant.step()  # proj-summarizer subscribes to a new offer
        run_inventory(settings, engine)
        result = evaluate(settings, engine, now=MID_MONTH)
        assert not result.errors
        rules = _rules(engine)
        assert {"quota", "rate_limit", "budget", "marketplace"} <= set(rules)
        quota_severities = _severities(engine, "quota")
        assert quota_severities == {"warning", "critical"}
        assert any("proj-chatbot" in k for k in rules["budget"]) and not any(
            "proj-search" in k for k in rules["budget"]
        )
        assert any(":new:" in k for k in rules["marketplace"]) and any(":status:" in k for k in rules["marketplace"])
        assert any("proj-chatbot" in k for k in rules["rate_limit"])
        assert month.isoformat()[:7] in next(iter(rules["budget"]))


def _severities(engine: Engine, rule: str) -> set[str]:
    with Session(engine) as session:
        return set(session.scalars(select(Alert.severity).where(Alert.rule == rule, Alert.state == "firing")))


def test_fires_once_reminds_resolves_and_is_idempotent(db_url: str, engine: Engine) -> None:
    with emulator_at(MID_MONTH) as server:
        budget = {"scope": "project", "name": "proj-chatbot", "amount": "100", "currency": "USD"}
        settings = _settings(server, db_url, budgets=[budget], reminder_hours=6)
        collect_all(server, settings, engine)
        channel = Recorder()
        now = MID_MONTH
        first = evaluate(settings, engine, now=now)
        key = next(k for k in first.firing if k.startswith("budget:"))
        again = evaluate(settings, engine, now=now)
        assert again.firing == [] and again.queued == 0  # idempotent
        deliver(settings, engine, {"email": channel}, now=now)
        budget_messages = [n for n in channel.received if n.alert_key == key]
        assert [n.event for n in budget_messages] == ["firing"]
        assert "proj-chatbot" in budget_messages[0].subject and budget_messages[0].link.startswith("http")

        later = now + timedelta(hours=7)
        assert key in evaluate(settings, engine, now=later).reminded
        deliver(settings, engine, {"email": channel}, now=later)
        assert [n.event for n in channel.received if n.alert_key == key] == ["firing", "reminder"]

        acknowledge(engine, key, "tester")
        assert key not in evaluate(settings, engine, now=later + timedelta(hours=7)).reminded

        raised = _settings(server, db_url, budgets=[{**budget, "amount": "100000000"}], reminder_hours=6)
        resolved = evaluate(raised, engine, now=later + timedelta(hours=8))
        assert key in resolved.resolved
        deliver(settings, engine, {"email": channel}, now=later + timedelta(hours=8))
        assert [n.event for n in channel.received if n.alert_key == key] == ["firing", "reminder", "resolved"]
        with Session(engine) as session:
            alert = session.get(Alert, key)
            assert alert is not None and alert.state == "resolved"


def test_delivery_retries_after_the_receiver_was_down(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = _settings(
            server,
            db_url,
            retry_seconds=60,
            budgets=[{"scope": "project", "name": "proj-chatbot", "amount": "100", "currency": "USD"}],
        )
        collect_all(server, settings, engine)
        now = utcnow()
        queued = evaluate(settings, engine, now=now).queued
        channel = Recorder(down=True)
        first = deliver(settings, engine, {"email": channel}, now=now)
        assert (first.sent, first.retrying) == (0, queued)
        assert deliver(settings, engine, {"email": channel}, now=now + timedelta(seconds=30)).retrying == 0  # backoff
        channel.down = False
        second = deliver(settings, engine, {"email": channel}, now=now + timedelta(seconds=61))
        assert second.sent == queued and len(channel.received) == queued
        assert deliver(settings, engine, {"email": channel}, now=now + timedelta(hours=1)).sent == 0  # never twice
        with Session(engine) as session:
            assert (
                session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent"))
                == 0
            )


def test_collection_health_fires_after_repeated_failures_and_resolves(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = _settings(server, db_url, failed_runs=2)
        broken = server.tenant.subscriptions[2].subscription_id
        server.faults.fail_subscription(broken, status=403)
        for _ in range(2):
            collect(settings, engine, today=server.tenant.today)
        evaluate(settings, engine)
        assert any(broken in k for k in _rules(engine).get("collection_health", set()))
        server.faults.clear()
        collect(settings, engine, today=server.tenant.today)
        result = evaluate(settings, engine)
        assert any(broken in k for k in result.resolved)


def test_dry_run_changes_nothing(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = _settings(server, db_url)
        _fill(server, settings, engine)
        preview = evaluate(settings, engine, dry_run=True)
        assert preview.firing
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(Alert)) == 0
            assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_silenced_alerts_queue_nothing(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = _settings(server, db_url, reminder_hours=1)
        _fill(server, settings, engine)
        now = utcnow()
        key = next(k for k in evaluate(settings, engine, now=now).firing if k.startswith("quota:"))
        acknowledge(engine, key, "tester", silence_for=timedelta(days=1))
        with Session(engine) as session:
            before = session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.alert_key == key)
            )
        evaluate(settings, engine, now=now + timedelta(hours=3))
        with Session(engine) as session:
            after = session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.alert_key == key)
            )
        assert after == before


@pytest.mark.parametrize("amount", ["100000000"])
def test_a_budget_far_away_is_quiet(db_url: str, engine: Engine, amount: str) -> None:
    with emulator_at(MID_MONTH) as server:
        settings = _settings(
            server,
            db_url,
            budgets=[{"scope": "model", "name": "Meta-Llama-3-70B-Instruct", "amount": amount, "currency": "USD"}],
        )
        collect_all(server, settings, engine)
        evaluate(settings, engine, now=MID_MONTH)
        assert "budget" not in _rules(engine) and "budget_forecast" not in _rules(engine)


def test_money_in_messages_is_exact(db_url: str, engine: Engine) -> None:
    with emulator_at(MID_MONTH) as server:
        settings = _settings(
            server,
            db_url,
            budgets=[
                {
                    "scope": "subscription",
                    "name": server.tenant.subscriptions[0].subscription_id,
                    "amount": "1",
                    "currency": "USD",
                }
            ],
        )
        collect_all(server, settings, engine)
        evaluate(settings, engine, now=MID_MONTH)
        with Session(engine) as session:
            alert = session.scalars(select(Alert).where(Alert.rule == "budget")).one()
        assert alert.details["budget"] == "1.00 USD"
        assert Decimal(alert.details["spent"].split()[0].replace(",", "")) > 1


def test_the_anomaly_fires_and_resolves_once_the_day_is_restated(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = _settings(server, db_url)
        collect_all(server, settings, engine)
        evaluate(settings, engine)
        anomaly = server.tenant.anomaly
        assert _rules(engine)["anomaly"] == {f"anomaly:{anomaly['project']}:{anomaly['model']}:{anomaly['currency']}"}
        server.tenant.calm()
        collect_all(server, settings, engine)
        assert evaluate(settings, engine).resolved == [
            f"anomaly:{anomaly['project']}:{anomaly['model']}:{anomaly['currency']}"
        ]


def test_minutes_at_the_limit_are_critical(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = _settings(server, db_url)
        run_inventory(settings, engine)
        run_metrics(settings, engine)
        evaluate(settings, engine)
        with Session(engine) as session:
            critical = session.scalars(
                select(Alert).where(Alert.rule == "rate_limit", Alert.severity == "critical")
            ).all()
        throttled = server.tenant.throttled_endpoint_id.rsplit("/", 1)[-1]
        assert [a.key.rsplit(":", 1)[-1] for a in critical] == [throttled]
        assert "throttled" in critical[0].message


def test_nothing_fires_on_a_quiet_tenant(db_url: str, engine: Engine) -> None:
    with emulator(quiet=True) as server:
        settings = _settings(
            server,
            db_url,
            budgets=[
                {"scope": "project", "name": "proj-chatbot", "amount": "100000000", "currency": "USD"},
                {
                    "scope": "subscription",
                    "name": server.tenant.subscriptions[0].subscription_id,
                    "amount": "100000000",
                    "currency": "USD",
                },
            ],
        )
        _fill(server, settings, engine)
        result = evaluate(settings, engine)
        assert result.firing == [] and not result.errors, result.firing


def test_per_scope_overrides_change_thresholds_and_mute(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        overrides = [
            {"match": "quota:*:westus3:*", "warn": 0.99, "critical": 0.995},  # the 96% family stays quiet
            {"match": "rate_limit:proj-search:*", "mute": True},
        ]
        settings = _settings(server, db_url, overrides=overrides)
        _fill(server, settings, engine)
        evaluate(settings, engine)
        rules = _rules(engine)
        assert not any(":westus3:" in k for k in rules["quota"])
        assert any(":eastus2:" in k for k in rules["quota"])
        assert not any("proj-search" in k for k in rules["rate_limit"])
        assert any("proj-chatbot" in k for k in rules["rate_limit"])
