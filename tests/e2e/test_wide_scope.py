"""Query planning at a wide scope (billing account, billing profile, management group): the official SDK
against the emulator over HTTPS, into SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from collector import wide_scope
from collector.db.models import COST_ROW_KEY, CostRow, ScopeRun
from collector.periods import add_months
from collector.settings import SettingsError, load_settings
from collector.sources import costs
from emulator import EmulatorServer
from tests.emulated import collect_all, emulator, history_start, settings_for, stored, truth

BY = ["project", "model", "meter"]


def billing_account(server: EmulatorServer) -> str:
    return server.tenant.wide_scopes["billing account"]


def billing_profile(server: EmulatorServer) -> str:
    return server.tenant.wide_scopes["billing profile"]


def _rows(engine: Engine) -> dict[tuple[Any, ...], Decimal]:
    with Session(engine) as session:
        return {tuple(getattr(r, k) for k in COST_ROW_KEY): r.cost for r in session.scalars(select(CostRow))}


def _scopes(engine: Engine, run_id: int) -> list[ScopeRun]:
    with Session(engine) as session:
        return list(session.scalars(select(ScopeRun).where(ScopeRun.run_id == run_id, ScopeRun.scope.like("costs %"))))


def _months(server: EmulatorServer) -> int:
    today, first = server.tenant.today, history_start(server)
    return (today.year - first.year) * 12 + today.month - first.month + 1


def _ledger_rows(server: EmulatorServer) -> int:
    """How many distinct cost rows Azure states over the window: what the store must hold, no more."""
    tenant, first = server.tenant, history_start(server)
    keys = {
        (r.subscription_id, r.usage_date, r.resource_id, r.meter_id, r.meter, r.meter_category, r.charge_type)
        for s in tenant.subscriptions
        for r in tenant.cost_records(s.subscription_id, first, tenant.today)
    }
    return len(keys)


@pytest.mark.parametrize("scope", [billing_account, billing_profile])
def test_wide_scope_equals_ground_truth_and_per_subscription_collection(db_url: str, engine: Engine, scope) -> None:
    with emulator() as server:
        wide = scope(server)
        first = collect_all(server, settings_for(server, db_url, costs={"scope": wide}), engine)
        assert first.status == "succeeded", first.failures
        assert stored(engine, server, BY) == truth(server, BY)
        assert stored(engine, server, ["subscription"], include_other=True) == truth(
            server, ["subscription"], include_other=True
        )
        assert stored(engine, server, ["day", "resource"]) == truth(server, ["day", "resource"])
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(CostRow)) == _ledger_rows(server)  # no duplicate
        months = _months(server)
        assert months <= first.qpu_used < months * len(server.tenant.subscriptions)  # a query (of pages) a month
        # The run record says where each month was collected: the wide query, then each subscription's share.
        records = _scopes(engine, first.run_id)
        # With nothing stored yet, one day is asked first to size the stretches; then a query a month.
        asked = [r.month for r in records if r.scope == f"costs {wide}"]
        assert sorted(set(asked)) == [add_months(history_start(server), k) for k in range(months)]
        assert len(asked) == months + 1
        per_subscription = [r for r in records if r.scope.startswith("costs /subscriptions/")]
        assert per_subscription and {r.query_scope for r in per_subscription} == {wide}
        assert all(r.status == "succeeded" for r in records)
        wide_rows = _rows(engine)

        rerun = collect_all(server, settings_for(server, db_url, costs={"scope": wide}), engine)
        assert rerun.status == "succeeded" and rerun.rows_removed == 0
        # The stored days size the stretches now: one query a month.
        assert len([r for r in _scopes(engine, rerun.run_id) if r.scope == f"costs {wide}"]) == months
        assert _rows(engine) == wide_rows

        # Per-subscription collection states exactly the same rows: it changes nothing, and costs more.
        per_sub = collect_all(server, settings_for(server, db_url), engine)
        assert per_sub.status == "succeeded" and per_sub.rows_removed == 0
        assert per_sub.rows_written == first.rows_written
        assert _rows(engine) == wide_rows
        assert per_sub.qpu_used == months * len(server.tenant.subscriptions) > first.qpu_used


def test_a_large_wide_month_is_asked_in_stretches_each_within_the_row_budget(
    db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with emulator() as server:
        days = (server.tenant.today - history_start(server)).days + 1
        # A budget of about four days of this tenant's rows: its months are "large".
        monkeypatch.setattr(wide_scope, "WIDE_ROWS", int(_ledger_rows(server) / days * 4))
        wide = billing_account(server)
        summary = collect_all(server, settings_for(server, db_url, costs={"scope": wide}), engine)
        assert summary.status == "succeeded", summary.failures
        assert stored(engine, server, BY) == truth(server, BY)
        assert stored(engine, server, ["day", "resource"]) == truth(server, ["day", "resource"])
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(CostRow)) == _ledger_rows(server)
        asked = [r for r in _scopes(engine, summary.run_id) if r.scope == f"costs {wide}"]
        assert len(asked) > 5 * _months(server)  # stretches of a few days, not a query a month
        assert max(r.rows_written for r in asked) <= wide_scope.WIDE_ROWS
        assert summary.qpu_used == len(asked)  # each stretch 1 QPU, still far below one per subscription


def test_restated_months_replace_the_old_figures_at_wide_scope(db_url: str, engine: Engine) -> None:
    with emulator(page_size=50) as server:  # and the wide answer comes in many pages
        settings = settings_for(server, db_url, costs={"scope": billing_account(server)})
        collect_all(server, settings, engine)
        old = stored(engine, server, BY)
        server.tenant.restate()
        summary = collect_all(server, settings, engine)
        assert summary.status == "succeeded", summary.failures
        assert stored(engine, server, BY) == truth(server, BY) != old
        assert summary.qpu_used > _months(server)  # each page of a month's answer is charged


@pytest.mark.parametrize("status", [403, 404, 400])
def test_a_wide_scope_that_cannot_be_read_falls_back_per_subscription(
    db_url: str, engine: Engine, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with emulator() as server:
        server.faults.fail_wide_scope(status)
        wide = billing_account(server)
        summary = collect_all(server, settings_for(server, db_url, costs={"scope": wide}), engine)
        assert summary.status == "succeeded", summary.failures
        assert stored(engine, server, BY) == truth(server, BY)
        records = _scopes(engine, summary.run_id)
        tried = [r for r in records if r.scope == f"costs {wide}"]
        assert len(tried) == 1 and tried[0].status == "fallback" and f"HTTP {status}" in (tried[0].error or "")
        per_subscription = [r for r in records if r.scope != f"costs {wide}"]
        assert len(per_subscription) == _months(server) * len(server.tenant.subscriptions)
        assert all(r.query_scope == r.scope.removeprefix("costs ") for r in per_subscription)
    assert "per subscription instead" in caplog.text
    if status == 403:
        assert "Billing Reader" in caplog.text


def test_an_unknown_wide_scope_falls_back(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        wide = "/providers/Microsoft.Billing/billingAccounts/no-such-account"
        summary = collect_all(server, settings_for(server, db_url, costs={"scope": wide}), engine)
        assert summary.status == "succeeded", summary.failures
        assert stored(engine, server, BY) == truth(server, BY)


def test_subscriptions_outside_the_billing_profile_are_collected_per_subscription(
    db_url: str, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with emulator(billing_profile_size=2) as server:
        wide = billing_profile(server)
        inside = server.tenant.billing_profile
        summary = collect_all(server, settings_for(server, db_url, costs={"scope": wide}), engine)
        assert summary.status == "succeeded", summary.failures
        assert stored(engine, server, ["subscription"], include_other=True) == truth(
            server, ["subscription"], include_other=True
        )
        where = {
            (r.scope.removeprefix("costs /subscriptions/"), r.query_scope)
            for r in _scopes(engine, summary.run_id)
            if r.scope.startswith("costs /subscriptions/")
        }
        for s in server.tenant.subscriptions:
            sid = s.subscription_id
            assert where & {(sid, wide), (sid, f"/subscriptions/{sid}")} == (
                {(sid, wide)} if sid in inside else {(sid, f"/subscriptions/{sid}")}
            )
        # The profile's queries (and its first day alone, which sizes the stretches), plus the 2 others' own.
        assert summary.qpu_used == _months(server) * 3 + 1
    assert "collecting them per subscription" in caplog.text


def test_rows_of_subscriptions_not_collected_are_left_out(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        chosen = server.tenant.subscriptions[0].subscription_id
        settings = settings_for(server, db_url, subscriptions=[chosen], costs={"scope": billing_account(server)})
        summary = collect_all(server, settings, engine)
        assert summary.status == "succeeded", summary.failures
        expected = {k: v for k, v in truth(server, ["subscription"], include_other=True).items() if k[0] == chosen}
        assert stored(engine, server, ["subscription"], include_other=True) == expected


def test_a_wide_scope_failing_otherwise_fails_the_month(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        server.faults.server_error(100, status=500)  # more than the retries of one month's query
        settings = settings_for(server, db_url, retries=1, costs={"scope": billing_account(server)})
        summary = collect_all(server, settings, engine)
        assert summary.status == "partial"  # the inventory was read; no month of costs was
        assert len(summary.failures) == _months(server)
        assert all(f.startswith(f"costs {billing_account(server)}") and "HTTP 500" in f for f in summary.failures)


# --- the plan and the parser, without the emulator ---------------------------------------------------


SUB_A = "0f8fad5b-d9cb-469f-a165-70867728950e"
SUB_B = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def _wide_month() -> costs.Chunk:
    return costs.Chunk("/providers/Microsoft.Billing/billingAccounts/1", "", date(2026, 10, 1), date(2026, 10, 31))


def test_the_grouping_names_the_subscription_while_there_is_room() -> None:
    settings = load_settings(None).costs
    assert costs.grouping_for(_wide_month(), settings) == settings.grouping  # all 5 taken: from ResourceId
    four = load_settings(None, costs={"grouping": ["ResourceId", "Meter", "MeterId", "ChargeType"]}).costs
    assert costs.grouping_for(_wide_month(), four)[-1] == "SubscriptionId"
    assert costs.grouping_for(_wide_month().of(SUB_A), four) == four.grouping  # not at a subscription's scope


def test_wide_rows_are_split_by_the_subscription_their_resource_lies_under() -> None:
    page = costs.QueryPage(
        ["Cost", "ResourceId", "Meter", "UsageDate", "Currency"],
        [
            [Decimal("1.25"), f"/subscriptions/{SUB_A}/resourcegroups/rg/providers/x/y/a", "m", 20261002, "USD"],
            [Decimal("2.5"), f"/subscriptions/{SUB_B}/resourcegroups/rg/providers/x/y/b", "m", 20261002, "EUR"],
            [Decimal("9"), f"/subscriptions/{SUB_B}/resourcegroups/rg/providers/x/y/b", "m", "not a date", "EUR"],
        ],
    )
    parsed = costs.parse_pages([page], _wide_month(), load_settings(None).costs, date(2026, 11, 20), "test")
    split = parsed.by_subscription()
    assert {sid: [r["cost"] for r in rows] for sid, rows in split.items()} == {
        SUB_A: [Decimal("1.25")],
        SUB_B: [Decimal("2.5")],
    }
    assert parsed.rejected_in == {SUB_B: 1}  # so only SUB_B's month keeps its stored rows


def test_a_row_naming_no_subscription_is_told_apart() -> None:
    page = costs.QueryPage(
        ["Cost", "ResourceId", "SubscriptionId", "UsageDate", "Currency"],
        [
            [Decimal("1"), "", SUB_A.upper(), 20261002, "USD"],  # the SubscriptionId column says it
            [Decimal("3"), "/providers/microsoft.capacity/reservationorders/r", "", 20261002, "USD"],
        ],
    )
    parsed = costs.parse_pages([page], _wide_month(), load_settings(None).costs, date(2026, 11, 20), "test")
    assert list(parsed.by_subscription()) == [SUB_A]
    assert parsed.rejected_in == {"": 1} and parsed.reasons == {costs.UNPLACED: 1}


@pytest.mark.parametrize(
    "scope",
    [
        "/providers/Microsoft.Billing/billingAccounts/12345:6789",
        "providers/Microsoft.Billing/billingAccounts/12345:6789/billingProfiles/13579",  # as Azure's examples
    ],
)
def test_wide_scope_settings_accepted(scope: str) -> None:
    assert load_settings(None, costs={"scope": scope}).costs.scope == "/" + scope.lstrip("/")


@pytest.mark.parametrize(
    ("scope", "why"),
    [
        (f"/subscriptions/{SUB_A}", "list it in `subscriptions`"),
        ("/providers/Microsoft.Billing/billingAccounts/", "expected /providers/Microsoft.Billing/billingAccounts/<id>"),
        ("/providers/Microsoft.Management/managementGroups/a/b", "billingProfiles/<id>"),
        # Learn, "Understand and work with scopes": EA management groups omit Marketplace purchases.
        ("/providers/Microsoft.Management/managementGroups/mg-contoso", "leave out third-party Marketplace"),
    ],
)
def test_a_wrong_wide_scope_names_the_key_and_the_fix(scope: str, why: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(None, costs={"scope": scope})
    assert "costs.scope (COSTWATCH_COSTS__SCOPE)" in str(raised.value) and why in str(raised.value)


# --- a big tenant at the real budget -------------------------------------------------------------------

REAL_BUDGET = {"qpu_per_10s": 12, "qpu_per_minute": 60, "qpu_per_hour": 600}


def test_a_13_month_backfill_of_200_subscriptions_fits_the_budget_at_wide_scope(db_url: str, engine: Engine) -> None:
    # 4 full subscriptions and 196 with one storage account each (2 meters a day): small content, and one
    # generous page a month, so the test is about the plan, not the volume.
    spec = {"subscriptions": 4, "storage_only_subscriptions": 196, "history_months": 13, "page_size": 50_000}
    with emulator(**spec, **REAL_BUDGET) as server:
        assert len(server.tenant.subscriptions) == 200
        settings = settings_for(server, db_url, costs={"scope": billing_account(server)})  # default share: 0.5
        started = time.monotonic()
        summary = collect_all(server, settings, engine)
        seconds = time.monotonic() - started
        assert summary.status == "succeeded", summary.failures
        assert summary.throttled == 0
        months = _months(server)  # 13 months back and this one
        assert summary.qpu_used == months + 1  # and the first day alone, which sizes the stretches
        assert stored(engine, server, ["subscription"], include_other=True) == truth(
            server, ["subscription"], include_other=True
        )
    # Per subscription the same backfill needs a query per subscription and month: at half of 600 QPU an
    # hour that is over 9 hours of the tenant's budget, against 14 QPU (about 20 s of pacing) here.
    per_subscription = 200 * months
    share_per_hour = int(REAL_BUDGET["qpu_per_hour"] * settings.costs.qpu_share)
    assert per_subscription == 2800 and per_subscription / share_per_hour > 9
    assert summary.qpu_used <= share_per_hour / 20
    logging.getLogger(__name__).info(
        "200-subscription backfill: %d QPU at wide scope in %.0f s; per subscription: %d QPU",
        summary.qpu_used,
        seconds,
        per_subscription,
    )
