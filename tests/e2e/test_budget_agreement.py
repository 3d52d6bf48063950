"""One budget, one figure: the budget alert, the dashboard's budget table and the monthly report count a
cost center the same way (collector.read.budgets), to the cent.

The tenant is the emulator's, collected, then given the two shapes that used to split them: a
cost-center tag written `Cost-Center` where the setting says `cost-center` (Azure treats tag names
case-insensitively), and one project name in two subscriptions with different cost centers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from collector import rollup
from collector.alerts.rules import budgets as budget_conditions
from collector.db.engine import make_engine
from collector.db.models import ResourceAttribution, Workspace
from collector.read.monthly_report import build_report
from collector.settings import Budget, Settings
from dashboard import queries
from tests.e2e.test_dashboard import fresh_caches, run_page, table_with  # noqa: F401 - the fixture, used by name
from tests.emulated import MID_MONTH, collect_all, emulator_at, settings_for

MONTH = MID_MONTH.date().replace(day=1)
BUDGETS = [
    Budget(scope="cost_center", name="support", amount=Decimal(1), currency="USD"),
    Budget(scope="cost_center", name="Localization", amount=Decimal(1), currency="USD"),
    Budget(scope="project", name="proj-chatbot", amount=Decimal(1), currency="USD"),
]


@dataclass(frozen=True)
class Twins:
    settings: Settings
    support: Decimal  # proj-chatbot of the prod subscription, this month
    localization: Decimal  # the dev subscription's project, renamed proj-chatbot


@pytest.fixture
def twins(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Twins]:
    with emulator_at(MID_MONTH) as server:
        settings = settings_for(server, db_url, alerts={"cost_center_tag": "cost-center", "budgets": BUDGETS})
        engine = make_engine(db_url)
        collect_all(server, settings, engine)
        truth = server.tenant.truth(["project"], MONTH, MID_MONTH.date())
    month_of = {
        p: sum((r["cost"] for r in truth if r["project"] == p and r["currency"] == "USD"), Decimal(0))
        for p in ("proj-chatbot", "proj-translator")
    }
    with Session(engine) as session, session.begin():
        chatbot = session.scalars(select(Workspace).where(Workspace.name == "proj-chatbot")).one()
        translator = session.scalars(select(Workspace).where(Workspace.name == "proj-translator")).one()
        assert chatbot.subscription_id != translator.subscription_id
        chatbot.tags = {"env": "prod", "Cost-Center": "support"}
        translator.tags = {"env": "dev", "COST-CENTER": "localization"}
        translator.name = "proj-chatbot"
        session.execute(
            update(ResourceAttribution)
            .where(ResourceAttribution.project == "proj-translator")
            .values(project="proj-chatbot")
        )
    rollup.rebuild(engine)
    engine.dispose()
    for key in [k for k in os.environ if k.startswith("COSTWATCH_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("COSTWATCH_DATABASE_URL", db_url)
    monkeypatch.setattr(queries, "settings", lambda: settings)
    yield Twins(settings, month_of["proj-chatbot"], month_of["proj-translator"])


def _amount(text: str) -> Decimal:
    figure, currency = text.split()
    assert currency == "USD"
    return Decimal(figure.replace(",", ""))


def test_the_alert_the_dashboard_and_the_report_agree_on_every_budget(twins: Twins) -> None:
    expected = {
        ("cost_center", "support"): twins.support,
        ("cost_center", "localization"): twins.localization,
        ("project", "proj-chatbot"): twins.support + twins.localization,  # a project budget names a name
    }
    assert all(amount > 0 for amount in expected.values())
    engine = make_engine(twins.settings.database_url.get_secret_value())
    with Session(engine) as session:
        fired = budget_conditions(session, twins.settings, MID_MONTH)
        report = build_report(session, twins.settings, MONTH, today=MID_MONTH.date())
    engine.dispose()

    alert = {
        (b.scope, b.name.lower()): _amount(c.details["spent"])
        for b in BUDGETS
        for c in fired
        if c.rule == "budget" and f"{b.scope.replace('_', ' ')} {b.name} budget" in c.subject
    }
    assert alert == {key: amount.quantize(Decimal("0.01")) for key, amount in expected.items()}

    reported = {(b.scope, b.name.lower()): b.actual for b in report.budgets}
    assert reported == expected
    centers = {g.name: g.cost for g in report.by("cost_center") if g.currency == "USD"}
    assert centers["support"] == twins.support and centers["localization"] == twins.localization

    (frame,) = table_with(run_page("overview"), "forecast used")
    shown = {
        tuple(
            row["budget"].split(" ", 1)
            if not row["budget"].startswith("cost center")
            else ("cost_center", row["budget"].removeprefix("cost center "))
        ): row["spent"]
        for _, row in frame.iterrows()
    }
    assert {(scope, name.lower()): Decimal(str(spent)) for (scope, name), spent in shown.items()} == expected
