"""Foundry resources end to end: the emulator's Foundry accounts (every deployment family beside the
hubs), collected by the official SDKs into SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from collector.alerts.rules import quota as quota_rule
from collector.alerts.rules import rate_limits
from collector.azure.arm import AzureCallError
from collector.db.models import (
    Deployment,
    FoundryAccount,
    FoundryProject,
    InventoryEvent,
    ResourceAttribution,
    TrafficMinute,
)
from collector.foundry_models import meter_sku
from collector.jobs import traffic as traffic_job
from collector.jobs.quota import run_quota
from collector.jobs.traffic import run_metrics
from collector.metrics_store import business_families
from collector.periods import floor_minute
from collector.read.deployment_costs import foundry_deployment_costs
from collector.read.headroom import deployment_headroom
from collector.read.monthly_report import build_report, detail_rows
from collector.read.quota import latest_quota
from collector.reports.focus import focus_record
from collector.runs import utcnow
from collector.sources.quota import FOUNDRY_PROVIDER
from tests.emulated import collect_all, emulator, history_start, settings_for, stored, truth

BY = ["project", "model", "meter"]


def test_foundry_spend_is_exact_by_project_model_and_meter(db_url: str, engine: Engine) -> None:
    with emulator(foundry=True) as server:
        settings = settings_for(server, db_url)
        summary = collect_all(server, settings, engine)
        assert summary.status == "succeeded", summary.failures
        assert stored(engine, server, BY) == truth(server, BY)
        assert stored(engine, server, ["spend_kind", "model"]) == truth(server, ["spend_kind", "model"])
        assert stored(engine, server, ["subscription"], include_other=True) == truth(
            server, ["subscription"], include_other=True
        )
        by_kind = stored(engine, server, ["spend_kind", "project", "model"])
        foundry = {(project, model) for kind, project, model, _currency in by_kind if kind == "foundry"}
        # One Foundry resource bills four models: each row takes its model from its meter.
        assert {m for p, m in foundry if p == "assistant"} == {
            "gpt-4o",
            "gpt-4o-mini",
            "Llama-3.3-70B-Instruct",
            "DeepSeek-R1",
        }
        assert ("proj-chatbot", "gpt-4o-mini") in foundry  # an Azure OpenAI resource tagged for a hub project
        assert ("proj-summarizer", "gpt-4o-mini") in foundry  # one its hub uses through a connection
        assert ("(unattributed)", "Mistral-Large-2411") in foundry  # two projects share the research resource
        with Session(engine) as session:
            reasons = {
                a.resource_id.rsplit("/", 1)[-1]: (a.spend_kind, a.rule, a.detail)
                for a in session.scalars(select(ResourceAttribution))
                if "/microsoft.cognitiveservices/" in a.resource_id
            }
        assert reasons["aif-contoso-prod"][:2] == ("foundry", "only-project")
        assert reasons["oai-contoso-chatbot"][:2] == ("foundry", "tag")
        # The hub's connection (its storage connection beside it is no model's) reaches its one project.
        assert reasons["oai-contoso-summarizer"] == (
            "foundry",
            "connection",
            "only project connected to oai-contoso-summarizer, through connection oai-contoso-summarizer_aoai of "
            "hub hub-prod-swedencentral",
        )
        kind, rule, detail = reasons["aif-contoso-research"]
        assert (kind, rule) == ("foundry", "ambiguous") and "research-a, research-b" in detail
        assert reasons["cv-contoso-ocr"][:2] == ("other", "not-ai")  # Computer Vision: not a model's spend

        # Each deployment's cost: its resource's meters of its model and type (every emulated deployment
        # is alone of its model and type on its resource), to the cent.
        with Session(engine) as session:
            costs = foundry_deployment_costs(session, history_start(server), server.tenant.today)
        by_meter = truth(server, ["resource", "model", "meter"])
        for account in server.tenant.foundry_accounts:
            for d in account.deployments:
                expected: dict[str, Decimal] = {}
                for (resource, model, meter, currency), cost in by_meter.items():
                    if resource == account.id.lower() and model == d.model and meter_sku(meter) == d.sku:
                        expected[currency] = expected.get(currency, Decimal(0)) + cost
                cost = costs[f"{account.id}/deployments/{d.name}".lower()]
                assert (cost.costs, cost.shared_with) == (expected, ()) and expected, d.name

        again = collect_all(server, settings, engine)
        assert again.status == "succeeded"
        assert stored(engine, server, BY) == truth(server, BY)


def test_foundry_inventory_quota_and_deployment_limits(db_url: str, engine: Engine) -> None:
    with emulator(foundry=True) as server:
        settings = settings_for(server, db_url)
        for summary in (collect_all(server, settings, engine), run_quota(settings, engine)):
            assert summary.status == "succeeded", summary.failures
        with Session(engine) as session:
            accounts = {a.name: a.kind for a in session.scalars(select(FoundryAccount))}
            projects = {p.name for p in session.scalars(select(FoundryProject))}
            rows = {r.deployment: r for r in deployment_headroom(session, settings, timedelta(hours=24), utcnow())}
            quota = {(q.location, q.name): q for q in latest_quota(session) if q.provider == FOUNDRY_PROVIDER}
            foundry = session.scalars(select(Deployment).where(Deployment.kind == "foundry")).all()
            events = session.scalars(select(InventoryEvent)).all()
        assert accounts == {
            "aif-contoso-prod": "AIServices",
            "oai-contoso-chatbot": "OpenAI",
            "cv-contoso-ocr": "ComputerVision",
            "oai-contoso-summarizer": "OpenAI",
            "aif-contoso-research": "AIServices",
        }
        assert projects == {"assistant", "research-a", "research-b"}
        assert len(foundry) == 9 and not events  # the first sync is the baseline
        # Each deployment's limits are its own (capacity 450 -> 450,000 TPM, 2,700 RPM), never the
        # serverless 200,000/1,000; a provisioned one states requests only.
        gpt4o = rows["gpt-4o"]
        assert (gpt4o.project, gpt4o.kind, gpt4o.sku, gpt4o.capacity) == ("assistant", "foundry", "GlobalStandard", 450)
        assert (gpt4o.tpm_limit, gpt4o.rpm_limit) == (450_000, 2_700)
        ptu = rows["gpt-4o-ptu"]
        assert (ptu.sku, ptu.tpm_limit, ptu.rpm_limit) == ("GlobalProvisionedManaged", None, 90)
        assert rows["chat-mini"].project == "proj-chatbot"
        # Foundry quota in each Foundry region, exactly as served, beside the VM cores.
        served = {
            (u["location"], u["name"]): (u["current"], u["limit"])
            for u in server.tenant.quota_truth()
            if u["provider"] == FOUNDRY_PROVIDER
        }
        assert {k: (q.current, q.limit) for k, q in quota.items()} == served
        assert quota[("eastus2", "OpenAI.GlobalStandard.gpt-4o")].percent == 90
        with Session(engine) as session:
            fired = [c for c in quota_rule(session, settings, utcnow()) if FOUNDRY_PROVIDER in c.key]
        # gpt-4o's global capacity at 90% of the region's quota: a warning, in its own unit.
        assert [(c.severity, c.message.split(" used")[0]) for c in fired] == [
            ("warning", "450 of 500 thousands of TPM")
        ]


def test_monthly_report_lists_foundry_spend_per_project_and_model(db_url: str, engine: Engine) -> None:
    with emulator(foundry=True) as server:
        settings = settings_for(server, db_url)
        assert collect_all(server, settings, engine).status == "succeeded"
        month = server.tenant.history_start.replace(day=1) + timedelta(days=40)
        with Session(engine) as session:
            report = build_report(session, settings, month.replace(day=1))
        lines = {(line.project, line.model) for line in report.lines}
        assert ("assistant", "gpt-4o") in lines and ("proj-chatbot", "gpt-4o-mini") in lines
        # Each Foundry meter's token kind, and its cost per million tokens at its list price.
        cached = next(line for line in report.lines if line.meter == "gpt-4o-1120-cached-Inp-glbl Tokens")
        assert (cached.token_type, cached.unit, cached.cost_per_million_tokens) == (
            "cached input",
            "1M tokens",
            Decimal("1.25"),
        )
        with Session(engine) as session:
            focus = [
                focus_record(report, row)
                for row in detail_rows(session, settings, report.month)
                if row.spend_kind == "foundry"
            ]
        assert focus and {r["ServiceName"] for r in focus} == {"Foundry Models"}
        # PTU hours bill no tokens.
        assert {r["x_TokenType"] for r in focus} == {"input", "output", "cached input", ""}
        assert {r["RegionId"] for r in focus} == {"eastus2", "swedencentral"}
        # The provisioned deployment's PTU hours (15 PTUs, 24 a day, USD 1.00 each), under its one model.
        ptu = next(line for line in report.lines if line.meter == "Provisioned Managed Global Unit")
        assert (ptu.project, ptu.model, ptu.unit, ptu.token_type) == ("assistant", "gpt-4o", "hours", "")
        assert ptu.quantity and ptu.quantity % (15 * 24) == 0 and ptu.cost == ptu.quantity * Decimal("1.00")
        output = next(line for line in report.lines if line.meter == "R1 Outp glbl Tokens")
        assert (output.model, output.token_type, output.cost_per_million_tokens) == (
            "DeepSeek-R1",
            "output",
            Decimal("5.4"),
        )


def test_foundry_traffic_split_by_deployment_against_its_own_limits(db_url: str, engine: Engine) -> None:
    with emulator(foundry=True) as server:
        settings = settings_for(server, db_url, metrics={"first_lookback_hours": 3})
        assert collect_all(server, settings, engine).status == "succeeded"
        now = utcnow()
        calls = server.stats.count("metrics_batch")
        assert run_metrics(settings, engine, now=now).status == "succeeded"
        # One getBatch per subscription and region of serverless endpoints, and one per subscription and
        # region of Foundry resources (their deployments split by ModelDeploymentName, not a call each).
        serverless = {(e.id.split("/")[2].lower(), e.location) for e in server.tenant.serverless_endpoints}
        accounts = {(a.subscription_id, a.location) for a in server.tenant.foundry_accounts if a.deployments}
        # ...and one for the PTU utilization of the resources holding a provisioned deployment.
        provisioned = {
            (a.subscription_id, a.location)
            for a in server.tenant.foundry_accounts
            if any(d.provisioned for d in a.deployments)
        }
        assert provisioned and server.stats.count("metrics_batch") - calls == (
            len(serverless) + len(accounts) + len(provisioned)
        )
        assert run_metrics(settings, engine, now=now).status == "succeeded"  # a rerun changes nothing
        window = timedelta(hours=2)
        with Session(engine) as session:
            rows = [r for r in deployment_headroom(session, settings, window, now) if r.kind == "foundry"]
            ids = {
                (d.workspace_id, d.name): d.resource_id
                for d in session.scalars(select(Deployment).where(Deployment.kind == "foundry"))
            }
            fired = rate_limits(session, settings, now)
            alerts = [c for c in fired if "DeepSeek-R1" in c.subject]
        end = floor_minute(now)
        truth = server.tenant.peak_truth(end - window, end)
        accounts_by_name = {a.name: a.id.lower() for a in server.tenant.foundry_accounts}
        assert len(rows) == 9
        for row in rows:
            expected = truth[ids[(accounts_by_name[row.resource], row.deployment)]]
            assert (row.peak_tpm, row.peak_rpm) == (expected["peak_tpm"], expected["peak_rpm"]), row.deployment
            # A provisioned deployment's peak PTU utilization as Azure Monitor states it; none for the others.
            utilization = expected.get("peak_utilization_bp")
            assert row.peak_utilization_pct == (None if utilization is None else Decimal(utilization) / 100)
        deepseek = next(r for r in rows if r.deployment == "DeepSeek-R1")
        assert deepseek.peak_tpm is not None and deepseek.peak_tpm >= 0.9 * 50_000  # its burst near its own limit
        # 90-100% of its limit: a warning, critical at the limit itself
        assert [c.rule for c in alerts] == ["rate_limit"] and alerts[0].severity in ("warning", "critical")
        # The provisioned deployment states no tokens per minute: its headroom is its utilization, and it
        # reached 100% (throttled) in an hour of the window.
        ptu = next(r for r in rows if r.deployment == "gpt-4o-ptu")
        assert ptu.tpm_limit is None and ptu.peak_utilization_pct == Decimal(100)
        assert ptu.minutes_near_utilization is not None and ptu.minutes_near_utilization >= 1
        [alert] = [c for c in fired if "gpt-4o-ptu" in c.subject]
        assert alert.severity == "critical" and alert.details["busiest"] == "PTU utilization"
        assert alert.message.startswith("peak PTU utilization 100.0% of 15 PTUs") and "throttled" in alert.message
        # /metrics judges as the rule does: no headroom left, and the utilization beside it.
        with Session(engine) as session:
            families = {f.name: f for f in business_families(session, settings, now)}
        gauges = {
            name: {s.labels["deployment"]: s.value for s in families[name].samples}
            for name in (
                "costwatch_rate_headroom_ratio",
                "costwatch_rate_ptu_utilization_ratio",
                "costwatch_rate_tpm_limit",
            )
        }
        assert gauges["costwatch_rate_ptu_utilization_ratio"] == {"gpt-4o-ptu": 1.0}
        assert gauges["costwatch_rate_headroom_ratio"]["gpt-4o-ptu"] == 0.0
        assert (
            "gpt-4o-ptu" not in gauges["costwatch_rate_tpm_limit"]
            and gauges["costwatch_rate_tpm_limit"]["gpt-4o"] == 450_000
        )
        low = {d for d, v in gauges["costwatch_rate_headroom_ratio"].items() if v <= 1 - 0.9 + 1e-12}
        assert low == {c.subject.split(" ")[0] for c in fired}


def _ptu_minutes(engine: Engine) -> list[TrafficMinute]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(TrafficMinute).where(TrafficMinute.deployment_id.endswith("/deployments/gpt-4o-ptu"))
            )
        )


def test_a_metric_azure_lacks_leaves_tokens_stored_without_utilization(
    db_url: str, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Azure Monitor answers an unknown metric name with 400 "Failed to find metric configuration": the
    provisioned deployment's tokens are still stored, its utilization unknown (None, never 0), and the
    utilization already stored for the minutes it re-pulls stays as it was."""
    with emulator(foundry=True) as server:
        settings = settings_for(server, db_url, metrics={"first_lookback_hours": 2})
        assert collect_all(server, settings, engine).status == "succeeded"
        assert run_metrics(settings, engine).status == "succeeded"
        before = {m.minute: m.utilization_bp for m in _ptu_minutes(engine)}
        assert before and None not in before.values()
        later = time.time() + 30 * 60  # half an hour on, for Azure Monitor and the collector alike
        server.tenant.clock = lambda: later
        settings = settings_for(
            server, db_url, metrics={"first_lookback_hours": 2, "provisioned_utilization": "PtuUtilizationV9"}
        )
        with caplog.at_level(logging.WARNING, logger="collector.jobs.traffic"):
            assert run_metrics(settings, engine, now=datetime.fromtimestamp(later, UTC)).status == "succeeded"
        after = {m.minute: m for m in _ptu_minutes(engine)}
        assert {minute: after[minute].utilization_bp for minute in before} == before
        new = [m for minute, m in after.items() if minute not in before]
        assert new and all(m.utilization_bp is None for m in new) and sum(m.total_tokens for m in new) > 0
        assert "no PtuUtilizationV9 from Azure Monitor" in caplog.text and "Failed to find metric" in caplog.text


def test_a_failed_utilization_call_fails_the_scope_and_the_next_run_stores_both(
    db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A throttled or failing utilization call must not leave minutes stored without it (the next pull
    starts after them): the deployment's scope fails, and the next run stores its tokens and utilization."""
    with emulator(foundry=True) as server:
        settings = settings_for(server, db_url, metrics={"first_lookback_hours": 2})
        assert collect_all(server, settings, engine).status == "succeeded"
        fetched = traffic_job.fetch_utilization

        def failing(run: Any, settings: Any, due: dict[str, Any]) -> dict[str, Any]:
            return {
                d: AzureCallError("HTTP 503 ServiceUnavailable: try again later") for d in fetched(run, settings, due)
            }

        monkeypatch.setattr(traffic_job, "fetch_utilization", failing)
        summary = run_metrics(settings, engine)
        assert summary.status == "partial" and [f for f in summary.failures if "gpt-4o-ptu" in f]
        assert _ptu_minutes(engine) == []
        monkeypatch.undo()
        assert run_metrics(settings, engine).status == "succeeded"
        stored_minutes = _ptu_minutes(engine)
        assert stored_minutes and all(m.utilization_bp is not None for m in stored_minutes)
