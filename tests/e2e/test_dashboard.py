"""The dashboard (Streamlit's AppTest on a store filled from the emulator): every page, its figures
against `collector.read.spend.spend` and the emulator's ground truth, URL filters, CSV downloads, and
who may see what. The authorization rules and the arithmetic are also tested as pure functions."""

from __future__ import annotations

import calendar
import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest
import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import Session
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from collector.attribution import UNATTRIBUTED
from collector.db.engine import make_engine, upgrade
from collector.db.models import Alert
from collector.periods import add_months
from collector.read.spend import spend
from collector.runs import utcnow
from collector.settings import Budget, Settings
from dashboard import access, nav, queries
from dashboard.auth import LOCAL, DashboardSettings, Identity, ManagedOption, resolve_viewer
from dashboard.figures import (
    SERVERLESS,
    TokenUsage,
    TrafficDay,
    VmOffer,
    VmPrice,
    compare,
    month_figures,
    regroup,
    token_usage,
)
from dashboard.filters import SpendView, parse_view
from emulator import Tenant
from emulator.catalog import MANAGED_COMPUTE_HOURLY_USD
from tests.emulated import collect_all, emulator, settings_for

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "app.py"
OWNER = {"is_logged_in": True, "email": "Owner@Contoso.example", "name": "Olivia Owner"}
AUTH = DashboardSettings(
    auth_enabled=True,
    roles={"fin@contoso.example": "finance", "3f1c0000-aaaa-bbbb-cccc-000000000001": "admin"},
    project_owners={"owner@contoso.example": ["proj-chatbot"]},
)
CENT = Decimal("0.01")


def money(amount: Decimal, currency: str) -> str:
    return f"{amount.quantize(CENT, ROUND_HALF_UP):,} {currency}"


# --- the store ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    url: str
    tenant: Tenant
    settings: Settings

    @property
    def as_of(self) -> date:
        return self.tenant.history_end

    def truth(self, by: list[str], date_from: date, date_to: date, **where: str) -> dict[tuple[Any, ...], Decimal]:
        """(values of `by`..., currency) -> exact cost, from the emulator's ledger."""
        dims = list(dict.fromkeys([*by, *where]))
        out: dict[tuple[Any, ...], Decimal] = {}
        for row in self.tenant.truth(dims, date_from, date_to):
            if all(row[k] == v for k, v in where.items()):
                key = (*(row[d] for d in by), row["currency"])
                out[key] = out.get(key, Decimal(0)) + row["cost"]
        return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One store per worker: costs, quota, a whole UTC day of traffic (yesterday, never the day before),
    and evaluated alerts."""
    from collector.alerts.engine import evaluate
    from collector.jobs.quota import run_quota
    from collector.jobs.traffic import run_metrics

    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'costwatch.db'}"
    upgrade(url)
    with emulator(foundry=True) as server:  # every deployment family: Marketplace, Foundry, managed compute
        lookback = 24 + utcnow().hour + 2  # yesterday whole; the day before never is
        settings = settings_for(server, url, metrics={"first_lookback_hours": lookback})
        engine = make_engine(url)
        collect_all(server, settings, engine)
        run_quota(settings, engine)
        run_metrics(settings, engine)
        evaluate(settings, engine)
        engine.dispose()
        yield Store(url, server.tenant, settings)


def _use(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    for key in list(os.environ):
        if key.startswith("COSTWATCH_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("COSTWATCH_DATABASE_URL", url)


@pytest.fixture
def on_store(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    _use(monkeypatch, store.url)
    return store


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    """Cached reads are per process: never let one test's store or viewer answer another's."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


class Downloads(MemoryMediaFileStorage):
    """Keeps what each download button would serve, by file name."""

    files: ClassVar[dict[str, bytes]] = {}

    def load_and_get_id(self, path_or_data: Any, mimetype: str, kind: Any, filename: str | None = None) -> str:
        if isinstance(path_or_data, bytes) and filename:
            Downloads.files[filename] = path_or_data
        return super().load_and_get_id(path_or_data, mimetype, kind, filename)


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    Downloads.files = {}
    monkeypatch.setattr("streamlit.testing.v1.app_test.MemoryMediaFileStorage", Downloads)
    return Downloads.files


def _page(name: str, root: str) -> None:
    import importlib
    import sys

    sys.path.insert(0, root)
    importlib.import_module(f"dashboard.views.{name}").render()


def run_page(name: str, params: dict[str, Any] | None = None, user: dict[str, Any] | None = None) -> AppTest:
    at = AppTest.from_function(_page, args=(name, str(ROOT)), default_timeout=30)
    at.query_params.update(params or {})
    if user is not None:
        at.user = user
    at.run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def table_with(at: AppTest, column: str) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe if column in d.value.columns]


def sign_in(monkeypatch: pytest.MonkeyPatch, settings: DashboardSettings = AUTH) -> None:
    monkeypatch.setattr(access, "dashboard_settings", lambda: settings)


# --- overview ---------------------------------------------------------------------------------


def test_overview_is_the_default_page_and_its_figures_are_the_truth(on_store: Store) -> None:
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Overview"
    as_of = on_store.as_of
    month = as_of.replace(day=1)
    previous = add_months(month, -1)
    previous_end = previous.replace(day=min(as_of.day, calendar.monthrange(previous.year, previous.month)[1]))
    mtd = on_store.truth([], month, as_of)
    before = on_store.truth([], previous, previous_end)
    shown = metrics(at)
    assert {k for k in shown if k.startswith("Month to date")} == {f"Month to date ({c})" for (c,) in mtd}
    days = calendar.monthrange(as_of.year, as_of.month)[1]
    for (currency,), amount in mtd.items():
        assert shown[f"Month to date ({currency})"] == money(amount, currency)
        assert shown[f"Last month, same period ({currency})"] == money(before[(currency,)], currency)
        assert shown[f"Forecast for {as_of:%B} ({currency})"] == money(amount / as_of.day * days, currency)
    with Session(make_engine(on_store.url)) as session:
        firing = session.scalars(select(Alert).where(Alert.state == "firing")).all()
    assert shown["Firing alerts"] == str(len(firing))
    assert shown["Critical"] == str(sum(a.severity == "critical" for a in firing))
    assert any("still estimates" in c.value for c in at.caption)
    assert any("127.0.0.1" in c.value for c in at.sidebar.caption), "says it is bound to localhost"


def test_overview_budgets(on_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    as_of = on_store.as_of
    spent = on_store.truth([], as_of.replace(day=1), as_of, project="proj-chatbot")[("USD",)]
    budgets = [Budget(scope="project", name="proj-chatbot", amount=spent * 2, currency="USD")]
    original = queries.settings
    monkeypatch.setattr(
        queries,
        "settings",
        lambda: original().model_copy(update={"alerts": original().alerts.model_copy(update={"budgets": budgets})}),
    )
    at = run_page("overview")
    (frame,) = table_with(at, "forecast used")
    row = frame.iloc[0]
    assert row["spent"] == spent and row["amount"] == spent * 2
    assert row["used"] == pytest.approx(50.0)


# --- spend ------------------------------------------------------------------------------------


def test_spend_filtered_view_equals_spend_and_the_truth(on_store: Store) -> None:
    project, model = on_store.tenant.anomaly["project"], on_store.tenant.anomaly["model"]  # type: ignore[index]
    first, last = on_store.as_of - timedelta(days=13), on_store.as_of
    at = run_page(
        "spend",
        {"project": project, "model": model, "from": first.isoformat(), "to": last.isoformat(), "by": "meter"},
    )
    truth = on_store.truth(["meter"], first, last, project=project, model=model)
    with Session(make_engine(on_store.url)) as session:
        stored: dict[tuple[str, str], Decimal] = {}
        for r in spend(session, first, last, ["project", "model", "meter"]):
            if r.keys["project"] == project and r.keys["model"] == model:
                stored[(r.keys["meter"], r.currency)] = r.cost
    assert stored == truth
    currencies = {c for _, c in truth}
    for currency in currencies:
        total = sum((v for (_, c), v in truth.items() if c == currency), Decimal(0))
        assert metrics(at)[f"Total {currency} (includes estimated days)"] == money(total, currency)
    (table,) = [t for t in table_with(at, "share") if "meter" in t.columns]
    assert {(r.meter, next(iter(currencies))): r.cost for r in table.itertuples()} == truth  # exact decimals


def test_spend_url_round_trips(on_store: Store) -> None:
    params: dict[str, Any] = {
        "from": (on_store.as_of - timedelta(days=6)).isoformat(),
        "to": on_store.as_of.isoformat(),
        "by": "model,day",
        "project": ["proj-chatbot", "proj-search"],
    }
    at = run_page("spend", params)
    assert at.query_params == params, "the URL keeps the view as given"
    at.multiselect(key="spend_by").set_value(["subscription"]).run()
    assert at.query_params["by"] == "subscription" and at.query_params["project"] == params["project"]
    shared = dict(at.query_params)
    again = run_page("spend", shared)
    assert metrics(again) == metrics(at)
    assert [d.value.to_dict() for d in again.dataframe] == [d.value.to_dict() for d in at.dataframe]
    bad = run_page("spend", {"by": "colour", "from": "yesterday"})
    assert {w.value.split(" ")[0] for w in bad.warning} >= {"cannot", "`from=yesterday`"}


def test_drill_down_reaches_the_cost_rows(on_store: Store) -> None:
    at = run_page("spend")
    at.selectbox(key="drill_project").select("proj-chatbot").run()
    model = at.selectbox(key="drill_model").options[0]
    at.selectbox(key="drill_model").select(model).run()
    meter = at.selectbox(key="drill_meter").options[0]
    at.selectbox(key="drill_meter").select(meter).run()
    resource = at.selectbox(key="drill_resource").options[0]
    at.selectbox(key="drill_resource").select(resource).run()
    assert not at.exception
    rows = table_with(at, "run")[-1]
    month = on_store.as_of.replace(day=1)
    truth = on_store.truth(["resource"], month, on_store.as_of, project="proj-chatbot", model=model, meter=meter)
    assert sum(rows["cost"], Decimal(0)) == sum(truth.values())
    assert set(rows["meter"]) == {meter}


def test_unattributed_spend_is_shown_with_why(on_store: Store) -> None:
    at = run_page("spend")
    (frame,) = table_with(at, "why")
    month = on_store.as_of.replace(day=1)
    truth = on_store.truth([], month, on_store.as_of, project=UNATTRIBUTED)
    assert sum(frame["cost"], Decimal(0)) == sum(truth.values())
    assert set(frame["rule"]) == {"ambiguous"}
    # Two projects on one offer in one resource group, and two Foundry projects sharing one resource.
    assert all("proj-hr, proj-legal" in why or "research-a, research-b" in why for why in frame["why"])
    assert any("Foundry resource aif-contoso-research" in why for why in frame["why"])


def test_csv_downloads_hold_the_tables_exactly(on_store: Store, downloads: dict[str, bytes]) -> None:
    at = run_page("spend", {"by": "project"})
    shown = {t["project"].iloc[0]: t for t in table_with(at, "share")}
    assert shown
    for name, data in downloads.items():
        if name.startswith("spend-") and name.endswith("-project-USD.csv"):
            rows = list(csv.DictReader(io.StringIO(data.decode())))
            table = next(t for t in shown.values() if set(t["project"]) == {r["project"] for r in rows})
            assert {r["project"]: Decimal(r["cost"]) for r in rows} == dict(
                zip(table["project"], table["cost"], strict=True)
            )
            break
    else:
        pytest.fail(f"no USD spend CSV among {sorted(downloads)}")


# --- deployments ------------------------------------------------------------------------------


def test_foundry_deployments_show_their_own_limits(on_store: Store) -> None:
    at = run_page("deployments")
    (frame,) = table_with(at, "deployment type")
    # Standard: capacity C -> C x 1,000 TPM and C x 6 RPM; provisioned: requests only.
    served = {
        (a.expected_project, d.name): (d.sku, d.capacity, None if d.provisioned else d.capacity * 1000, d.capacity * 6)
        for a in on_store.tenant.foundry_accounts
        for d in a.deployments
    }
    shown = {
        (r["project"], r["deployment"]): (
            r["deployment type"],
            r["capacity"],
            None if pd.isna(r["TPM limit"]) else r["TPM limit"],
            r["RPM limit"],
        )
        for r in frame.to_dict("records")
    }
    assert shown == served
    # A provisioned deployment's headroom is its PTU utilization: it reached 100% (throttled) in the
    # window; the others have none.
    utilization = {r["deployment"]: r["peak PTU utilization %"] for r in frame.to_dict("records")}
    assert utilization.pop("gpt-4o-ptu") == 100
    assert all(pd.isna(v) for v in utilization.values())


def test_each_foundry_deployment_costs_its_models_meters_of_its_type(on_store: Store) -> None:
    at = run_page("deployments")
    (frame,) = table_with(at, "cost shared with")
    as_of = on_store.as_of
    first = as_of - timedelta(days=29)
    # Ground truth: the resource's meters of the deployment's model, of its type (glbl: global
    # standard, PTU hours: global provisioned); every emulated deployment is alone of its model and type.
    meter_words = {"GlobalStandard": "glbl", "DataZoneStandard": "DZone", "GlobalProvisionedManaged": "Provisioned"}
    truth = on_store.truth(["resource", "model", "meter"], first, as_of)
    checked = 0
    for a in on_store.tenant.foundry_accounts:
        for d in a.deployments:
            row = frame[(frame["resource"] == a.name) & (frame["deployment"] == d.name)].iloc[0]
            expected: dict[str, Decimal] = defaultdict(Decimal)
            for (resource, model, meter, currency), cost in truth.items():
                if resource == a.id.lower() and model == d.model and meter_words[d.sku] in meter:
                    expected[currency] += cost
            ((currency, cost),) = expected.items()
            assert (row["cost"], row["currency"], row["cost shared with"]) == (cost, currency, ""), d.name
            checked += 1
    assert checked == 9


def test_cost_per_million_tokens_is_spend_over_measured_tokens(on_store: Store) -> None:
    at = run_page("deployments")
    (frame,) = [t for t in table_with(at, "per million tokens") if "deployments" in t.columns]
    tenant, day = on_store.tenant, on_store.as_of
    endpoint = next(e for e in tenant.serverless_endpoints if e.project == "proj-chatbot" and "70B" in e.model_id)
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    tokens = sum(m["total_tokens"] for m in tenant.metrics_truth(endpoint.id, start, start + timedelta(days=1)))
    ((_, cost),) = on_store.truth(
        ["currency"], day, day, project="proj-chatbot", model="Meta-Llama-3-70B-Instruct"
    ).items()
    row = frame[(frame["project"] == "proj-chatbot") & (frame["model"] == "Meta-Llama-3-70B-Instruct")].iloc[0]
    assert (row["days"], row["tokens"], row["cost"]) == (1, tokens, cost)
    assert row["per million tokens"] == (cost / tokens * 1_000_000).quantize(Decimal("0.0001"), ROUND_HALF_UP)
    unattributed = frame[frame["project"] == "proj-legal"].iloc[0]
    assert unattributed["cost"] is None and "unattributed" in unattributed["note"]


def test_foundry_costs_per_million_tokens_per_deployment_type_and_ptus_against_standard(on_store: Store) -> None:
    at = run_page("deployments")
    (frame,) = [t for t in table_with(at, "per million tokens") if "deployments" in t.columns]
    tenant, day = on_store.tenant, on_store.as_of
    account = next(a for a in tenant.foundry_accounts if a.name == "aif-contoso-prod")
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    first = int(start.timestamp() // 60)
    rows = {r["offer"]: r for r in frame[frame["project"] == "assistant"].to_dict("records") if r["model"] == "gpt-4o"}
    for offer, meter_words in (("GlobalStandard", "glbl"), ("GlobalProvisionedManaged", "Provisioned Managed Global")):
        row = rows[f"Foundry {offer}"]
        deployments = [d for d in account.deployments if d.model == "gpt-4o" and d.sku == offer]
        tokens = sum(sum(tenant.foundry_series(account, d, first, first + 1440).total_tokens()) for d in deployments)
        cost = sum(
            c
            for (meter, _), c in on_store.truth(["meter"], day, day, project="assistant", model="gpt-4o").items()
            if meter_words in meter
        )
        assert (row["deployments"], row["days"], row["tokens"], row["cost"]) == (
            ", ".join(d.name for d in deployments),
            1,
            tokens,
            cost,
        )
    assert rows["Foundry GlobalProvisionedManaged"]["cost"] == 15 * 24 * Decimal("1.00")  # 15 PTUs, a whole day
    # The PTUs against the same tokens at gpt-4o's measured GlobalStandard cost per token.
    (versus,) = table_with(at, "standard per million tokens")
    (ptu,) = versus.to_dict("records")
    assert (ptu["project"], ptu["model"], ptu["standard"]) == ("assistant", "gpt-4o", "GlobalStandard")
    assert ptu["standard per million tokens"] == rows["Foundry GlobalStandard"]["per million tokens"]
    standard_per_token = rows["Foundry GlobalStandard"]["cost"] / rows["Foundry GlobalStandard"]["tokens"]
    breakeven = rows["Foundry GlobalProvisionedManaged"]["cost"] / standard_per_token
    assert ptu["break-even tokens per day"] == int(breakeven)
    cheaper = "provisioned costs less" if breakeven <= ptu["tokens per day"] else "standard would cost less"
    assert ptu["verdict"].startswith(cheaper)


def test_serverless_vs_managed_uses_measured_prices_and_says_what_is_missing(
    on_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page("deployments")
    (frame,) = table_with(at, "managed per month")
    by = {(r["model"], r["currency"]): r for r in frame.to_dict("records") if r["offer"] == "serverless"}
    llama = by[("Meta-Llama-3-8B-Instruct", "USD")]
    assert llama["VM"] == "1 x Standard_NC24ads_A100_v4"
    assert llama["managed per month"] == MANAGED_COMPUTE_HOURLY_USD * 730  # measured on the bill
    assert llama["break-even / today"] == pytest.approx(
        float(llama["managed per month"] / llama["pay-per-token per month"]), rel=1e-3
    )
    assert "price is in USD" in by[("Meta-Llama-3-8B-Instruct", "EUR")]["verdict"]
    assert "no VM is known" in by[("Mistral-large", "USD")]["verdict"]
    sign_in(
        monkeypatch,
        DashboardSettings(
            managed_options={"Mistral-large": ManagedOption(vm_size="Standard_ND96amsr_A100_v4", instances=2)},
            vm_hourly_prices={"Standard_NC24ads_A100_v4": Decimal("4.00")},
        ),
    )
    st.cache_data.clear()
    at = run_page("deployments")
    (frame,) = table_with(at, "managed per month")
    by = {(r["model"], r["currency"]): r for r in frame.to_dict("records") if r["offer"] == "serverless"}
    assert "no price for Standard_ND96amsr_A100_v4" in by[("Mistral-large", "USD")]["verdict"]
    assert by[("Meta-Llama-3-8B-Instruct", "USD")]["managed per month"] == Decimal("4.00") * 730


# --- quota, subscriptions, alerts, status ----------------------------------------------------


def test_quota_highlights_near_limit_families_and_charts_history(on_store: Store) -> None:
    at = run_page("quota")
    highlighted, every = table_with(at, "band")
    near = [r for r in on_store.tenant.quota_truth() if r["limit"] > 0 and r["current"] >= 0.8 * r["limit"]]
    assert set(highlighted["band"]) == {"CRITICAL", "warning"} and len(highlighted) == len(near)
    assert len(every) == len(on_store.tenant.quota_truth())
    assert {(r.current, int(r.limit)) for r in highlighted.itertuples()} == {(r["current"], r["limit"]) for r in near}
    assert metrics(at)["Families at or over critical"] == str(sum(r["current"] >= 0.95 * r["limit"] for r in near))
    assert at.selectbox(key="quota_family").value is not None
    assert at.get("vega_lite_chart"), "the history chart"


def test_acknowledge_and_silence_an_alert(on_store: Store) -> None:
    with Session(make_engine(on_store.url)) as session:
        key = session.scalars(select(Alert.key).where(Alert.rule == "quota", Alert.state == "firing")).first()
    assert key is not None
    at = run_page("alerts")
    at.selectbox[0].set_value(key)
    at.number_input[0].set_value(2)
    at.button[0].click().run()
    assert not at.exception
    with Session(make_engine(on_store.url)) as session:
        alert = session.get(Alert, key)
        assert alert is not None and alert.acknowledged_by == "dashboard"
        assert alert.silenced_until is not None
        until = alert.silenced_until.replace(tzinfo=UTC)
    assert abs(until - (utcnow() + timedelta(hours=2))) < timedelta(minutes=2)


@pytest.mark.parametrize(
    ("page", "title"),
    [("subscriptions", "Marketplace subscriptions"), ("status", "Collection status"), ("alerts", "Alerts")],
)
def test_other_pages_render_the_collected_data(on_store: Store, page: str, title: str) -> None:
    at = run_page(page)
    assert at.title[0].value == title
    assert at.dataframe


def test_every_page_renders_an_empty_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    upgrade(url)
    _use(monkeypatch, url)
    for page in ("overview", "spend", "deployments", "quota", "subscriptions", "alerts", "status"):
        at = run_page(page)
        assert not at.dataframe or page in ("overview", "status"), page
    assert run_page("overview").info[0].value.startswith("No cost data yet")


# --- access -----------------------------------------------------------------------------------


def test_roles_resolve_from_email_groups_and_app_roles() -> None:
    assert resolve_viewer(DashboardSettings(), None) == LOCAL
    anonymous = resolve_viewer(AUTH, None)
    assert anonymous.role is None and not anonymous.authenticated
    owner = resolve_viewer(AUTH, Identity.from_claims({"email": "OWNER@contoso.example"}))
    assert (owner.role, owner.scope) == ("project_owner", ("proj-chatbot",))
    assert owner.may_see("Proj-Chatbot") and not owner.may_see("proj-search") and not owner.may_see(None)
    admin = resolve_viewer(
        AUTH,
        Identity.from_claims({"email": "owner@contoso.example", "groups": ["3F1C0000-aaaa-bbbb-cccc-000000000001"]}),
    )
    assert admin.role == "admin" and admin.scope is None, "the highest role wins"
    finance = resolve_viewer(AUTH, Identity.from_claims({"preferred_username": "fin@contoso.example"}))
    assert finance.role == "finance" and finance.sees_all
    by_app_role = resolve_viewer(
        DashboardSettings(auth_enabled=True, project_owners={"costwatch.owner.rag": ["proj-rag", "proj-eval"]}),
        Identity.from_claims({"email": "x@contoso.example", "roles": ["costwatch.owner.rag"]}),
    )
    assert by_app_role.scope == ("proj-eval", "proj-rag")
    stranger = resolve_viewer(AUTH, Identity.from_claims({"email": "eve@elsewhere.example"}))
    assert stranger.role is None and stranger.authenticated and stranger.scope == ()


def test_anonymous_sees_only_the_sign_in_page(on_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    sign_in(monkeypatch)
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["costwatch"]
    assert [b.label for b in at.button] == ["Sign in with Microsoft"]
    assert not at.metric and not at.dataframe
    direct = run_page("spend", {"project": "proj-chatbot"}, user={"is_logged_in": False})
    assert [t.value for t in direct.title] == ["costwatch"] and not direct.metric and not direct.dataframe


def test_signed_in_without_a_role_sees_nothing(on_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    sign_in(monkeypatch)
    at = run_page("overview", user={"is_logged_in": True, "email": "eve@elsewhere.example"})
    assert at.title[0].value == "No access yet" and not at.metric and not at.dataframe


def test_a_project_owner_sees_only_their_projects(
    on_store: Store, monkeypatch: pytest.MonkeyPatch, downloads: dict[str, bytes]
) -> None:
    sign_in(monkeypatch)
    others = {p.name for p in on_store.tenant.projects} - {"proj-chatbot"}
    month, as_of = on_store.as_of.replace(day=1), on_store.as_of

    overview = run_page("overview", user=OWNER)
    ((currency, total),) = [(c, v) for (c,), v in on_store.truth([], month, as_of, project="proj-chatbot").items()]
    assert metrics(overview)[f"Month to date ({currency})"] == money(total, currency)

    spend_page = run_page("spend", {"project": ["proj-chatbot", "proj-search"], "by": "project,model"}, user=OWNER)
    assert any("proj-search" in w.value for w in spend_page.warning), "says what it left out"
    assert spend_page.query_params["project"] == "proj-chatbot"
    assert metrics(spend_page)[f"Total {currency} (includes estimated days)"] == money(total, currency)
    assert not table_with(spend_page, "why"), "unattributed spend belongs to no project"

    alerts = run_page("alerts", {}, user=OWNER)
    shown = table_with(alerts, "subject")[0]
    assert set(shown["link"].map(lambda link: "project=proj-chatbot" in link)) == {True}

    texts: list[str] = []
    for page in ("overview", "spend", "deployments", "quota", "subscriptions", "alerts", "status"):
        at = spend_page if page == "spend" else run_page(page, user=OWNER)
        for d in at.dataframe:
            texts.append(d.value.to_csv())
            if "project" in d.value.columns:
                assert set(d.value["project"]) <= {"proj-chatbot"}, page
        texts += [m.value for m in at.markdown] + [c.value for c in at.caption]
    texts += [data.decode(errors="replace") for data in downloads.values()]
    leaked = sorted(p for p in others if any(p in text for text in texts))
    assert not leaked, f"another project's figures reached a project owner: {leaked}"


def test_the_query_layer_applies_the_scope(on_store: Store) -> None:
    scope = ("proj-chatbot",)
    month, as_of = on_store.as_of.replace(day=1), on_store.as_of
    asked_for_other = queries.spend_frame(month, as_of, ("project",), (("project", ("proj-search",)),), scope)
    assert asked_for_other.empty
    every = queries.spend_frame(month, as_of, ("project", "resource"), (), None)
    other = every[every["project"] == "proj-search"]["resource"].iloc[0]
    assert queries.cost_rows_frame(other, month, as_of, scope).empty
    assert not queries.cost_rows_frame(other, month, as_of, None).empty
    assert queries.unattributed_frame(month, as_of, scope).empty
    assert set(queries.deployments_frame(24, scope)["project"]) == {"proj-chatbot"}
    assert set(queries.marketplace_frame(scope)["project"]) == {"proj-chatbot"}


def test_navigation_by_role_and_the_reports_page(on_store: Store) -> None:
    def paths(viewer: Any) -> set[str]:
        return {spec.name for spec in nav.page_specs(viewer)}

    assert "reports" in paths(LOCAL)
    owner = resolve_viewer(AUTH, Identity.from_claims({"email": "owner@contoso.example"}))
    assert {"status", "reports"}.isdisjoint(paths(owner))
    assert {"overview", "spend", "deployments", "quota", "subscriptions", "alerts"} <= paths(owner)


# --- pure functions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    keys: dict[str, Any]
    cost: Decimal
    currency: str
    estimated: bool = False


def test_regroup_filters_scopes_and_never_adds_currencies() -> None:
    rows = [
        Row(
            {"subscription": "s", "project": "a", "resource": "/subscriptions/s/resourceGroups/RG1/providers/x/y"},
            Decimal("1.10"),
            "USD",
        ),
        Row(
            {"subscription": "s", "project": "a", "resource": "/subscriptions/s/resourceGroups/RG1/providers/x/z"},
            Decimal("2.205"),
            "USD",
        ),
        Row(
            {"subscription": "s", "project": "a", "resource": "/subscriptions/s/resourceGroups/rg1/providers/x/y"},
            Decimal("5"),
            "EUR",
            True,
        ),
        Row(
            {"subscription": "s", "project": "b", "resource": "/subscriptions/s/resourceGroups/rg2/providers/x/q"},
            Decimal("7"),
            "USD",
        ),
    ]
    out = regroup(rows, ["resource_group"], [], ("a",), {})
    assert out == [
        {"resource_group": "rg1", "currency": "EUR", "cost": Decimal("5"), "estimated": True},
        {"resource_group": "rg1", "currency": "USD", "cost": Decimal("3.305"), "estimated": False},
    ]
    assert regroup(rows, ["cost_center"], [("cost_center", ("Sales",))], None, {("s", "b"): "sales"})[0]["cost"] == 7
    assert regroup(rows, ["cost_center"], [("cost_center", ("Sales",))], None, {("other", "b"): "sales"}) == []
    assert regroup(rows, [], [("currency", ("eur",))], None, {}) == [
        {"currency": "EUR", "cost": Decimal("5"), "estimated": True}
    ]


def test_spend_view_params_parse_back() -> None:
    view = SpendView(
        date(2026, 11, 1), date(2026, 11, 24), ("model", "meter"), {"project": ("a", "b"), "model": ("m",)}
    )
    params = view.params()

    def get_all(name: str) -> list[str]:
        value = params.get(name, [])
        return value if isinstance(value, list) else [value]

    assert parse_view(get_all, date(2000, 1, 1), date(2000, 1, 2)) == (view, [])


def test_month_figures_and_forecast() -> None:
    as_of = date(2026, 3, 10)
    rows = [
        (date(2026, 3, 1), "USD", Decimal("10"), True),
        (date(2026, 3, 10), "USD", Decimal("20"), True),
        (date(2026, 2, 10), "USD", Decimal("15"), False),
        (date(2026, 2, 11), "USD", Decimal("99"), False),  # after the same period of last month
        (date(2026, 3, 5), "EUR", Decimal("1"), False),
    ]
    eur, usd = month_figures(rows, as_of)
    assert (usd.month_to_date, usd.last_month_same_period, usd.forecast) == (30, 15, Decimal(30) / 10 * 31)
    assert usd.change == 100 and usd.estimated
    assert (eur.month_to_date, eur.last_month_same_period, eur.change) == (1, 0, None)


def test_break_even_and_what_is_missing() -> None:
    day = date(2026, 11, 24)
    usage = TokenUsage("p", "m", ("d",), "USD", (day,), 0, 0, 10_000_000, Decimal("20"), 50_000)
    vm = VmOffer("Standard_NC24ads_A100_v4", 1, None, "test")
    c = compare("m", "USD", [usage], vm, VmPrice(Decimal("2"), "USD", "test"))
    assert c.cost_per_million == 2 and c.vm_per_day == 48
    assert c.breakeven_tokens_per_day == 24_000_000 and c.breakeven_multiple == Decimal("2.4")
    assert c.verdict.startswith("serverless costs less") and any("NOT checked" in a for a in c.assumptions)
    sized = compare("m", "USD", [usage], VmOffer("X", 1, 20_000, "test"), VmPrice(Decimal("2"), "USD", "t"))
    assert sized.instances == 3 and sized.vm_per_day == 144, "enough instances for the 50,000 tokens/min peak"
    cheap = compare("m", "USD", [usage], vm, VmPrice(Decimal("0.5"), "USD", "t"))
    assert cheap.verdict.startswith("managed would cost less")
    assert "no price for" in compare("m", "USD", [usage], vm, None).verdict
    assert "in EUR" in compare("m", "USD", [usage], vm, VmPrice(Decimal("2"), "EUR", "t")).verdict
    assert "no VM is known" in compare("m", "USD", [usage], None, None).verdict


def test_only_whole_days_count_for_cost_per_token() -> None:
    d1, d2 = date(2026, 11, 23), date(2026, 11, 24)
    traffic = [
        TrafficDay("dep", "p", "m", d1, 1, 1, 2, 1, 455, 1),  # collection started mid-day
        TrafficDay("dep", "p", "m", d2, 600, 400, 1000, 10, 1440, 50),
    ]
    spend = {("p", "m", SERVERLESS, d1): {"USD": Decimal(9)}, ("p", "m", SERVERLESS, d2): {"USD": Decimal(3)}}
    (u,) = token_usage(traffic, spend, d2)
    assert (u.days, u.total_tokens, u.cost, u.cost_per_million) == ((d2,), 1000, 3, 3000)


# --- in a browser -----------------------------------------------------------------------------


ARTIFACTS = os.environ.get("COSTWATCH_TEST_ARTIFACTS")  # read before the tests clear COSTWATCH_*
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


class Browser:
    """Headless Chromium driven over the DevTools protocol (websockets comes with Streamlit)."""

    def __init__(self, chromium: str, profile: Path) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--remote-debugging-port={self.port}", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_for_port(self.port, 30)
        import json
        import urllib.request

        deadline = time.monotonic() + 15
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list") as answer:
                pages = [t for t in json.load(answer) if t.get("type") == "page"]
            if pages or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        from websockets.sync.client import connect

        self._stack = ExitStack()
        self.socket = self._stack.enter_context(connect(pages[0]["webSocketDebuggerUrl"], max_size=None))
        self.calls = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        import json

        self.calls += 1
        self.socket.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if message.get("id") == self.calls:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def text(self) -> str:
        result = self.call("Runtime.evaluate", expression="document.body ? document.body.innerText : ''")
        return str(result.get("result", {}).get("value", ""))

    def open(self, url: str, until: str, seconds: float = 45) -> str:
        self.call("Emulation.setDeviceMetricsOverride", width=1440, height=2200, deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + seconds
        text = ""
        while time.monotonic() < deadline:
            text = self.text()
            # Each open is a page's first request (as an alert's link is): Streamlit must route it to
            # that page at once, with no "Page not found" dialog over it.
            assert "Page not found" not in text, f"{url} opened with Streamlit's 'Page not found': {text[:300]}"
            running = "Running..." in text or "Stop" in text.split("\n")[:8]
            if until in text and not running:
                time.sleep(1.5)  # let the charts draw
                return self.text()
            time.sleep(0.3)
        raise TimeoutError(f"{until!r} never appeared at {url}; the page says: {text[:500]}")

    def screenshot(self, path: Path) -> None:
        import base64

        time.sleep(2)  # the sidebar's opening animation
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        self._stack.close()
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.mark.skipif(CHROMIUM is None, reason="no /usr/bin/chromium (Debian's chromium package)")
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_running_dashboard_in_headless_chromium(on_store: Store, tmp_path: Path, theme: str) -> None:
    """Serve the dashboard, open it as a user would, check the figures, keep screenshots as artifacts."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false", "--theme.base", theme],
        env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert CHROMIUM is not None
    artifacts = Path(ARTIFACTS or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    browser = None
    try:
        _wait_for_port(port, 30)
        browser = Browser(CHROMIUM, tmp_path / "profile")
        as_of = on_store.as_of
        ((currency, total),) = [
            (c, v) for (c,), v in on_store.truth([], as_of.replace(day=1), as_of).items() if c == "USD"
        ]
        # First request after the start: a page link (as in an alert), not the root. Waits for the
        # project's figure itself: on a loaded machine the page draws before the link's filter applies.
        chatbot = on_store.truth([], as_of.replace(day=1), as_of, project="proj-chatbot")[(currency,)]
        text = browser.open(
            f"http://127.0.0.1:{port}/spend?project=proj-chatbot&by=model", until=money(chatbot, currency)
        )
        assert "Drill down" in text
        browser.screenshot(artifacts / f"dashboard-spend-{theme}.png")
        text = browser.open(f"http://127.0.0.1:{port}/overview", until=f"Month to date ({currency})")
        assert money(total, currency) in text
        assert "Firing alerts" in text and "127.0.0.1" in text
        browser.screenshot(artifacts / f"dashboard-overview-{theme}.png")
        # Both families on the Deployments and Quota pages.
        text = browser.open(f"http://127.0.0.1:{port}/deployments", until="Foundry (billed by Microsoft")
        assert "Serverless (pay as you go)" in text and "Managed compute" in text  # tables draw on a canvas
        browser.screenshot(artifacts / f"dashboard-deployments-{theme}.png")
        text = browser.open(f"http://127.0.0.1:{port}/quota", until="Families watched")
        lines = on_store.tenant.quota_truth()
        assert {"Microsoft.CognitiveServices", "Microsoft.MachineLearningServices"} <= {u["provider"] for u in lines}
        assert f"Families watched\n\n{len(lines)}" in text  # VM cores and Foundry capacity alike
        browser.screenshot(artifacts / f"dashboard-quota-{theme}.png")
    finally:
        if browser is not None:
            browser.close()
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_dashboard_works_through_a_read_only_role(db_url: str, engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import insert, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ProgrammingError

    from collector.db.models import CostRow

    role = f"costwatch_dashboard_{os.getpid()}"
    database = make_url(db_url).database
    with engine.begin() as connection:  # what docs/deployment.md tells an operator to run
        connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        connection.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"'))
        connection.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"'))
        connection.execute(text(f'GRANT UPDATE ON alerts TO "{role}"'))
    read_only = make_url(db_url).set(username=role).render_as_string(hide_password=False)
    try:
        with emulator() as server:
            collect_all(server, settings_for(server, db_url), engine)
        for key in list(os.environ):
            if key.startswith("COSTWATCH_"):
                monkeypatch.delenv(key)
        monkeypatch.setenv("COSTWATCH_DATABASE_URL", db_url)
        monkeypatch.setenv("COSTWATCH_DASHBOARD__DATABASE_URL", read_only)
        app = AppTest.from_file(str(APP), default_timeout=60).run()
        assert not app.exception, app.exception
        assert app.metric, "the overview shows its figures through the read-only role"
        with make_engine(read_only).connect() as connection, pytest.raises(ProgrammingError, match="permission"):
            connection.execute(insert(CostRow).values(subscription_id="x"))
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"'))
            connection.execute(text(f'REVOKE ALL ON DATABASE "{database}" FROM "{role}"'))
            connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
