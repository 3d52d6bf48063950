"""Alerts end to end: the emulator's scenarios, evaluated and delivered to a real SMTP server and a
local HTTPS receiver standing in for the Teams webhook."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import Engine

from collector.alerts.channels import configured_channels
from collector.alerts.engine import deliver, evaluate
from collector.cli import cli
from tests.emulated import MID_MONTH, collect_all, emulator_at, settings_for
from tests.unit.test_alert_channels import Inbox, Tls, Webhook, smtp_server, tls, webhook  # noqa: F401 - fixtures used by name

BUDGET = {"scope": "project", "name": "proj-chatbot", "amount": "100", "currency": "USD"}


def test_budget_alert_by_mail_and_teams_fires_reminds_resolves_and_survives_an_outage(
    db_url: str, engine: Engine, smtp_server: Callable[..., Inbox], webhook: Webhook, tls: Tls
) -> None:
    inbox = smtp_server()
    with emulator_at(MID_MONTH) as server:
        alerts = {
            "reminder_hours": 6,
            "retry_seconds": 60,
            "routes": {"budget": ["email", "teams"], "anomaly": ["email"]},
            "budgets": [BUDGET],
            "email": {
                "smtp_host": "127.0.0.1",
                "smtp_port": inbox.port,
                "sender": "costwatch@example.com",
                "recipients": ["finance@example.com"],
                "starttls": False,
                "timeout_seconds": 5,
            },
            "teams": {"webhook_url": webhook.url(), "ca_bundle": str(tls.ca_path), "timeout_seconds": 5},
        }
        settings = settings_for(server, db_url, alerts=alerts)
        collect_all(server, settings, engine)
        channels = configured_channels(settings.alerts)
        now = MID_MONTH

        webhook.status = 503  # Teams is down at first
        evaluate(settings, engine, now=now)
        first = deliver(settings, engine, channels, now=now)
        assert first.retrying >= 1 and first.failed == 0
        budget_mail = [
            m for m in inbox.received if "proj-chatbot" in m.message["Subject"] and "budget" in m.message["Subject"]
        ]
        assert len(budget_mail) == 1 and "CRITICAL firing" in budget_mail[0].message["Subject"]
        body = budget_mail[0].message.get_body(("plain",)).get_content()
        assert "100.00 USD" in body and "http://127.0.0.1:8501/spend?project=proj-chatbot" in body

        webhook.status = 202  # back up: the queued card goes out after its backoff, once
        deliver(settings, engine, channels, now=now + timedelta(seconds=61))
        cards = [p for p in webhook.posts if "proj-chatbot" in str(p[2])]
        assert len(cards) == 2  # the refused attempt and the delivered one
        deliver(settings, engine, channels, now=now + timedelta(hours=1))
        assert len([p for p in webhook.posts if "proj-chatbot" in str(p[2])]) == 2

        evaluate(settings, engine, now=now + timedelta(hours=7))
        deliver(settings, engine, channels, now=now + timedelta(hours=7))
        subjects = [m.message["Subject"] for m in inbox.received if "budget" in m.message["Subject"]]
        assert any("still firing" in s for s in subjects)

        relaxed = settings_for(server, db_url, alerts={**alerts, "budgets": [{**BUDGET, "amount": "99999999"}]})
        evaluate(relaxed, engine, now=now + timedelta(hours=8))
        deliver(relaxed, engine, channels, now=now + timedelta(hours=8))
        subjects = [m.message["Subject"] for m in inbox.received if "budget" in m.message["Subject"]]
        assert subjects[-1].startswith("[costwatch] RESOLVED")
        assert sum("firing:" in s and "still" not in s for s in subjects) == 1  # fired once

        anomaly_mail = [
            m
            for m in inbox.received
            if "anomaly" in str(m.message.get_body(("plain",)).get_content())
            or "Meta-Llama-3-70B-Instruct in project" in m.message["Subject"]
        ]
        assert anomaly_mail, "the anomaly went to email as routed"
        assert not [p for p in webhook.posts if "anomaly" in str(p[2]).lower()]  # and not to Teams


def test_cli_evaluates_lists_acks_and_tests_channels(
    db_url: str, engine: Engine, smtp_server: Callable[..., Inbox], monkeypatch
) -> None:
    import json
    import os

    inbox = smtp_server()
    with emulator_at(MID_MONTH) as server:
        for key in list(os.environ):
            if key.startswith("COSTWATCH_"):
                monkeypatch.delenv(key)
        env = {
            "DATABASE_URL": db_url,
            "ALERTS__EMAIL__SMTP_HOST": "127.0.0.1",
            "ALERTS__EMAIL__SMTP_PORT": str(inbox.port),
            "ALERTS__EMAIL__SENDER": "costwatch@example.com",
            "ALERTS__EMAIL__RECIPIENTS": "ops@example.com,finance@example.com",
            "ALERTS__EMAIL__STARTTLS": "false",
        }
        for key, value in env.items():
            monkeypatch.setenv(f"COSTWATCH_{key}", value)
        collect_all(server, settings_for(server, db_url), engine)
        runner = CliRunner()
        dry = runner.invoke(cli, ["alerts", "evaluate", "--dry-run"])
        assert dry.exit_code == 0 and "would fire: anomaly:" in dry.stdout and not inbox.received
        real = runner.invoke(cli, ["alerts", "evaluate"])
        assert real.exit_code == 0, real.stderr
        assert "delivered" in real.stdout and inbox.received
        listed = json.loads(runner.invoke(cli, ["alerts", "list", "--format", "json"]).stdout)
        assert {
            "key",
            "rule",
            "severity",
            "state",
            "subject",
            "value",
            "threshold",
            "message",
            "first_seen",
            "last_seen",
        } <= set(listed[0])
        key = listed[0]["key"]
        acked = runner.invoke(cli, ["alerts", "ack", key, "--silence", "2h"])
        assert acked.exit_code == 0 and "silenced until" in acked.stdout
        assert runner.invoke(cli, ["alerts", "ack", "no-such-alert"]).exit_code == 1
        sample = runner.invoke(cli, ["alerts", "test-channel", "email"])
        assert sample.exit_code == 0 and sample.stdout.startswith("email: 250")
        missing = runner.invoke(cli, ["alerts", "test-channel", "teams"])
        assert missing.exit_code == 1 and "not configured" in missing.stderr
