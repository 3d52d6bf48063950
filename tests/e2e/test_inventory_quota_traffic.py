"""Inventory history, VM-core quota and rate-limit headroom, end to end against the emulator."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from collector.cli import cli
from collector.db.models import Deployment, InventoryEvent, MarketplaceSubscription, TrafficHour, TrafficMinute
from collector.jobs.inventory import run_inventory
from collector.jobs.quota import run_quota
from collector.jobs.traffic import run_metrics
from collector.periods import floor_minute
from collector.read.headroom import deployment_headroom
from collector.read.quota import latest_quota
from collector.runs import utcnow
from tests.emulated import collect_all, emulator, settings_for


def test_quota_matches_the_emulator(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = settings_for(server, db_url)
        run_inventory(settings, engine)
        summary = run_quota(settings, engine)
        assert summary.status == "succeeded", summary.failures
        with Session(engine) as session:
            got = {
                (q.subscription_id, q.location, q.provider, q.name): (q.current, q.limit) for q in latest_quota(session)
            }
        want = {
            (r["subscription_id"], r["location"], r["provider"], r["name"]): (r["current"], r["limit"])
            for r in server.tenant.quota_truth()
        }
        assert got == want
        # a second snapshot is kept beside the first, and the latest is what `quota` shows
        server.tenant.step(), server.tenant.step(), server.tenant.step()  # step 3 scales a deployment up
        run_inventory(settings, engine)
        run_quota(settings, engine)
        with Session(engine) as session:
            latest = {(q.subscription_id, q.location, q.provider, q.name): q for q in latest_quota(session)}
        want = {
            (r["subscription_id"], r["location"], r["provider"], r["name"]): (r["current"], r["limit"])
            for r in server.tenant.quota_truth()
        }
        assert {k: (q.current, q.limit) for k, q in latest.items()} == want
        percents = [q.percent for q in latest.values()]
        assert any(p is not None and p >= 95 for p in percents)
        assert any(q.limit == -1 and q.percent is None for q in latest.values())


@pytest.mark.parametrize("batch", [True, False], ids=["getBatch", "per-deployment"])
def test_deployment_peaks_match_the_emulator_and_reruns_change_nothing(
    db_url: str, engine: Engine, batch: bool
) -> None:
    with emulator() as server:
        settings = settings_for(server, db_url, metrics={"first_lookback_hours": 3, "batch": batch})
        run_inventory(settings, engine)
        now = utcnow()
        assert run_metrics(settings, engine, now=now).status == "succeeded"
        # metrics:getBatch: one call per subscription and region (the SDK's MetricsClient); else one each.
        serverless = len(server.tenant.serverless_endpoints)
        regions = {(e.id.split("/")[2].lower(), e.location) for e in server.tenant.serverless_endpoints}
        calls = (server.stats.count("metrics_batch"), server.stats.count("metrics"))
        assert calls == ((len(regions), 0) if batch else (0, serverless))
        with Session(engine) as session:
            before = session.scalar(select(func.count()).select_from(TrafficMinute))
            hours_before = {(h.deployment_id, h.hour): h.total_tokens for h in session.scalars(select(TrafficHour))}
        assert run_metrics(settings, engine, now=now).status == "succeeded"
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(TrafficMinute)) == before
            hours = {(h.deployment_id, h.hour): h.total_tokens for h in session.scalars(select(TrafficHour))}
            assert hours == hours_before
            window = timedelta(hours=2)
            rows = deployment_headroom(session, settings, window, now)
            ids = dict(session.execute(select(Deployment.name, Deployment.resource_id)).all())
        end = floor_minute(now)
        truth = server.tenant.peak_truth(end - window, end)
        serverless = [r for r in rows if r.kind == "serverless"]
        assert serverless and all(r.tpm_limit == 200_000 and r.rpm_limit == 1_000 for r in serverless)
        for row in serverless:
            expected = truth.get(ids[row.deployment].lower(), {"peak_tpm": 0, "peak_rpm": 0})
            assert (row.peak_tpm, row.peak_rpm) == (expected["peak_tpm"], expected["peak_rpm"]), row.deployment
        assert any(r.peak_tpm >= 180_000 for r in serverless)  # the chatbot's burst near its TPM limit
        assert any(r.peak_rpm >= 900 for r in serverless)
        managed = [r for r in rows if r.kind == "managed"]
        assert {(r.instance_type, r.instance_count) for r in managed} == {
            ("Standard_NC24ads_A100_v4", 1),
            ("Standard_NC12s_v3", 2),
        }


def test_every_inventory_change_becomes_an_event(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = settings_for(server, db_url)
        run_inventory(settings, engine)
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(InventoryEvent)) == 0  # the first sync is a baseline
        while server.tenant.step():
            assert run_inventory(settings, engine).status == "succeeded"
        with Session(engine) as session:
            events = session.scalars(select(InventoryEvent)).all()
            got = {(e.resource_id, e.kind, e.old_value, e.new_value) for e in events}
            removed = session.scalars(select(Deployment).where(Deployment.removed_at.is_not(None))).all()
            unsubscribed = session.scalars(
                select(MarketplaceSubscription).where(MarketplaceSubscription.status == "Unsubscribed")
            ).all()
        kinds = {"status": "changed", "added": "added", "removed": "removed"}
        for change in server.tenant.changes:
            key = (change["resource_id"].lower(), kinds[change["kind"]])
            assert any(
                g[:2] == key and (change["kind"] != "status" or (g[2], g[3]) == (change["old"], change["new"]))
                for g in got
            ), change
        assert len(removed) == 1 and len(unsubscribed) == 1
        # and nothing is reported twice: another sync without changes adds no events
        run_inventory(settings, engine)
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(InventoryEvent)) == len(events)


def test_quota_deployments_and_events_commands(db_url: str, engine: Engine, monkeypatch) -> None:
    import os

    with emulator() as server:
        for key in list(os.environ):
            if key.startswith("COSTWATCH_"):
                monkeypatch.delenv(key)
        settings = settings_for(server, db_url)
        for key, value in {
            "DATABASE_URL": db_url,
            "ARM_ENDPOINT": server.url,
            "ARM_TOKEN": "t",
            "CA_BUNDLE": str(server.ca_path),
            "METRICS__FIRST_LOOKBACK_HOURS": "2",
        }.items():
            monkeypatch.setenv(f"COSTWATCH_{key}", value)
        collect_all(server, settings, engine)
        runner = CliRunner()
        result = runner.invoke(cli, ["collect", "--only", "quota,metrics"])
        assert result.exit_code == 0, result.stderr
        quota = json.loads(runner.invoke(cli, ["quota", "--format", "json"]).stdout)
        assert set(quota[0]) == {
            "subscription_id",
            "location",
            "provider",
            "name",
            "current",
            "limit",
            "percent",
            "as_of",
        }
        assert len(quota) == len(server.tenant.quota_truth())
        table = runner.invoke(cli, ["deployments", "--window", "2h"]).stdout
        assert "peak_tpm" in table and "serverless" in table and "managed" in table
        deployments = json.loads(runner.invoke(cli, ["deployments", "--format", "json"]).stdout)
        assert {
            "project",
            "deployment",
            "model",
            "kind",
            "status",
            "peak_tpm",
            "tpm_limit",
            "peak_rpm",
            "rpm_limit",
        } <= set(deployments[0])
        server.tenant.step()
        runner.invoke(cli, ["collect", "--only", "inventory"])
        events = json.loads(runner.invoke(cli, ["events", "--format", "json"]).stdout)
        assert [
            (e["kind"], e["old"], e["new"]) for e in events if e["resource_type"] == "marketplace_subscriptions"
        ] == [("changed", "Subscribed", "Suspended")]
        assert runner.invoke(cli, ["deployments", "--window", "forever"]).exit_code == 2


def test_minutes_expire_but_their_hourly_peaks_stay(db_url: str, engine: Engine) -> None:
    from collector.periods import floor_hour

    with emulator() as server:
        settings = settings_for(server, db_url, metrics={"first_lookback_hours": 30, "retention_days": 1})
        run_inventory(settings, engine)
        now = utcnow()
        summary = run_metrics(settings, engine, now=now)
        assert summary.rows_removed > 0  # the oldest 5 hours of minutes went
        cutoff = floor_hour(now) - timedelta(days=1)
        chatbot = next(e for e in server.tenant.serverless_endpoints if e.traffic == "tokens_hot")
        with Session(engine) as session:
            oldest = session.scalar(select(func.min(TrafficMinute.minute)))
            hours = {
                h.hour.replace(tzinfo=None): h
                for h in session.scalars(select(TrafficHour).where(TrafficHour.deployment_id == chatbot.id.lower()))
            }
        assert oldest.replace(tzinfo=None) >= cutoff.replace(tzinfo=None)
        start = floor_minute(now) - timedelta(hours=30)
        expected: dict = {}
        for minute in server.tenant.metrics_truth(chatbot.id, start, floor_minute(now)):
            hour = floor_hour(minute["minute"]).replace(tzinfo=None)
            expected[hour] = max(expected.get(hour, 0), minute["total_tokens"])
        old_hours = [
            h for h in expected if h < cutoff.replace(tzinfo=None) and h >= floor_hour(start).replace(tzinfo=None)
        ]
        assert old_hours
        for hour in old_hours:
            if hour in hours:
                assert hours[hour].peak_tpm == expected[hour]
        assert all(h in hours for h in old_hours if h > floor_hour(start).replace(tzinfo=None))


def test_a_deployment_without_metrics_is_recorded_once_not_failed_every_run(
    db_url: str, engine: Engine, monkeypatch, caplog
) -> None:
    """Issue 19.3: no supported-metrics page lists workspaces/serverlessEndpoints; Azure Monitor's 400
    "Failed to find metric configuration" is a finding on the deployment, not a failure every run."""
    import logging
    import os

    caplog.set_level(logging.INFO)
    with emulator() as server:
        settings = settings_for(server, db_url, metrics={"first_lookback_hours": 2})
        run_inventory(settings, engine)
        server.faults.apply("no_serverless_metrics")
        now = utcnow()
        first = run_metrics(settings, engine, now=now)
        assert first.status == "succeeded" and not first.failures
        calls = len(server.tenant.serverless_endpoints)
        batches = server.stats.count("metrics_batch")
        assert 0 < batches < calls  # one metrics:getBatch per subscription and region, not one per deployment
        assert caplog.text.count("no traffic metrics from Azure Monitor (expected") == calls  # once each
        # The next runs ask nothing until recheck_unavailable_hours have passed.
        assert run_metrics(settings, engine, now=now + timedelta(minutes=5)).status == "succeeded"
        assert server.stats.count("metrics_batch") == batches
        with Session(engine) as session:
            rows = [r for r in deployment_headroom(session, settings, timedelta(hours=1), now) if r.traffic]
        assert len(rows) == calls and all(r.peak_tpm is None and r.kind == "serverless" for r in rows)

        for key in list(os.environ):
            if key.startswith("COSTWATCH_"):
                monkeypatch.delenv(key)
        env = {"DATABASE_URL": db_url, "ARM_ENDPOINT": server.url, "ARM_TOKEN": "t", "CA_BUNDLE": str(server.ca_path)}
        for key, value in env.items():
            monkeypatch.setenv(f"COSTWATCH_{key}", value)
        runner = CliRunner()
        listed = json.loads(runner.invoke(cli, ["deployments", "--format", "json"]).stdout)
        assert sum(d["traffic"] == "no traffic metrics from Azure Monitor" for d in listed) == calls
        status = runner.invoke(cli, ["status"])
        assert f"{calls} serverless deployment(s): no traffic metrics from Azure Monitor" in status.stdout

        # A day later Azure Monitor answers: traffic is collected and the finding is gone.
        server.faults.apply("no_serverless_metrics", {"value": False})
        later = now + timedelta(hours=settings.metrics.recheck_unavailable_hours, minutes=1)
        assert run_metrics(settings, engine, now=later).status == "succeeded"
        assert server.stats.count("metrics_batch") == 2 * batches
        with Session(engine) as session:
            assert not [r for r in deployment_headroom(session, settings, timedelta(hours=1), later) if r.traffic]


def test_metrics_batches_hold_at_most_50_deployments_of_one_subscription_and_region(
    db_url: str, engine: Engine
) -> None:
    import math
    from collections import Counter

    with emulator(extra_projects_per_subscription=30) as server:
        settings = settings_for(server, db_url, metrics={"first_lookback_hours": 1})
        run_inventory(settings, engine)
        summary = run_metrics(settings, engine, now=utcnow())
        assert summary.status == "succeeded", summary.failures
        groups = Counter((e.id.split("/")[2].lower(), e.location) for e in server.tenant.serverless_endpoints)
        assert max(groups.values()) > 50  # the test is about splitting a group
        assert server.stats.count("metrics_batch", 200) == sum(math.ceil(n / 50) for n in groups.values())
        with Session(engine) as session:
            measured = session.scalar(select(func.count(func.distinct(TrafficMinute.deployment_id))))
        busy = {e.id.lower() for e in server.tenant.serverless_endpoints if e.traffic != "idle"}
        assert measured is not None and measured >= len(busy) > 50
