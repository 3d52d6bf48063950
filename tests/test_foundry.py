"""Foundry resources end to end: the emulator's Foundry accounts (every deployment family beside the
hubs), collected by the official SDKs into SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from collector.alerts.rules import quota as quota_rule
from collector.db.models import Deployment, FoundryAccount, FoundryProject, InventoryEvent, ResourceAttribution
from collector.quota import FOUNDRY_PROVIDER, latest_quota, run_quota
from collector.reports.monthly import build_report
from collector.runs import utcnow
from collector.traffic import FOUNDRY_TRAFFIC, deployment_headroom
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
        assert gpt4o.peak_tpm is None and gpt4o.traffic == FOUNDRY_TRAFFIC  # unknown, not a measured 0
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
