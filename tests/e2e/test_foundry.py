"""Foundry resources end to end: the emulator's Foundry accounts (every deployment family beside the
hubs), collected by the official SDKs into SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from collector.alerts.rules import quota as quota_rule
from collector.alerts.rules import rate_limits
from collector.db.models import Deployment, FoundryAccount, FoundryProject, InventoryEvent, ResourceAttribution
from collector.jobs.quota import run_quota
from collector.jobs.traffic import run_metrics
from collector.periods import floor_minute
from collector.read.headroom import deployment_headroom
from collector.read.monthly_report import build_report, detail_rows
from collector.read.quota import latest_quota
from collector.reports.focus import focus_record
from collector.runs import utcnow
from collector.sources.quota import FOUNDRY_PROVIDER
from tests.emulated import collect_all, emulator, settings_for, stored, truth

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
        assert ("(unattributed)", "Mistral-Large-2411") in foundry  # two projects share the research resource
        with Session(engine) as session:
            reasons = {
                a.resource_id.rsplit("/", 1)[-1]: (a.spend_kind, a.rule, a.detail)
                for a in session.scalars(select(ResourceAttribution))
                if "/microsoft.cognitiveservices/" in a.resource_id
            }
        assert reasons["aif-contoso-prod"][:2] == ("foundry", "only-project")
        assert reasons["oai-contoso-chatbot"][:2] == ("foundry", "tag")
        kind, rule, detail = reasons["aif-contoso-research"]
        assert (kind, rule) == ("foundry", "ambiguous") and "research-a, research-b" in detail
        assert reasons["cv-contoso-ocr"][:2] == ("other", "not-ai")  # Computer Vision: not a model's spend

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
            "aif-contoso-research": "AIServices",
        }
        assert projects == {"assistant", "research-a", "research-b"}
        assert len(foundry) == 8 and not events  # the first sync is the baseline
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
        assert {r["x_TokenType"] for r in focus} == {"input", "output", "cached input"}
        assert {r["RegionId"] for r in focus} == {"eastus2", "swedencentral"}
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
        assert server.stats.count("metrics_batch") - calls == len(serverless) + len(accounts)
        assert run_metrics(settings, engine, now=now).status == "succeeded"  # a rerun changes nothing
        window = timedelta(hours=2)
        with Session(engine) as session:
            rows = [r for r in deployment_headroom(session, settings, window, now) if r.kind == "foundry"]
            ids = {
                (d.workspace_id, d.name): d.resource_id
                for d in session.scalars(select(Deployment).where(Deployment.kind == "foundry"))
            }
            alerts = [c for c in rate_limits(session, settings, now) if "DeepSeek-R1" in c.subject]
        end = floor_minute(now)
        truth = server.tenant.peak_truth(end - window, end)
        accounts_by_name = {a.name: a.id.lower() for a in server.tenant.foundry_accounts}
        assert len(rows) == 8
        for row in rows:
            expected = truth[ids[(accounts_by_name[row.resource], row.deployment)]]
            assert (row.peak_tpm, row.peak_rpm) == (expected["peak_tpm"], expected["peak_rpm"]), row.deployment
        deepseek = next(r for r in rows if r.deployment == "DeepSeek-R1")
        assert deepseek.peak_tpm is not None and deepseek.peak_tpm >= 0.9 * 50_000  # its burst near its own limit
        # 90-100% of its limit: a warning, critical at the limit itself
        assert [c.rule for c in alerts] == ["rate_limit"] and alerts[0].severity in ("warning", "critical")
