"""End to end: the official SDKs against the emulator over HTTPS, into SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from collector import cost_chunks, rollup
from collector.db.models import COST_ROW_KEY, Base, CollectionRun, CostRow, ResourceAttribution, ScopeRun
from collector.db.upsert import upsert
from collector.sources import costs
from emulator import Faults
from emulator.faults import COST_QUERY_PATH
from tests.e2e.test_faults import _exact, _no_duplicates
from tests.e2e.test_rollup import _rollup_tables
from tests.emulated import TOKEN, collect_all, emulator, history_start, settings_for, stored, truth

BY = ["project", "model", "meter"]


def _rows(engine: Engine) -> dict[tuple, Decimal]:
    with Session(engine) as session:
        return {
            (r.subscription_id, r.usage_date, r.resource_id, r.meter_id, r.meter, r.charge_type, r.currency): r.cost
            for r in session.scalars(select(CostRow))
        }


def test_collection_matches_ground_truth_and_a_rerun_changes_nothing(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = settings_for(server, db_url)
        first = collect_all(server, settings, engine)
        assert first.status == "succeeded", first.failures
        assert stored(engine, server, BY) == truth(server, BY)
        assert stored(engine, server, ["subscription"], include_other=True) == truth(
            server, ["subscription"], include_other=True
        )
        assert stored(engine, server, ["day", "resource"]) == truth(server, ["day", "resource"])
        # A plain Azure ML workspace (no hub) holds a serverless deployment: its spend is its own.
        assert "ml-research" in {key[0] for key in stored(engine, server, ["project"])}
        # Every call names costwatch and its version; cost queries also name their client type.
        callers = server.stats.clients
        assert callers and all(agent.startswith("costwatch/") for _route, agent, _type in callers)
        assert {kind for route, _agent, kind in callers if route == "cost_query"} == {"costwatch"}
        before = _rows(engine)

        second = collect_all(server, settings, engine)
        assert second.status == "succeeded"
        assert _rows(engine) == before
        assert second.rows_removed == 0


def test_currencies_are_never_added(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        collect_all(server, settings_for(server, db_url), engine)
        totals = stored(engine, server, ["subscription"])
    currencies = {key[-1] for key in totals}
    assert currencies == {"USD", "EUR"}
    for subscription in {key[0] for key in totals}:
        assert len([k for k in totals if k[0] == subscription]) == 1  # each subscription bills in one currency


def test_restated_estimates_replace_the_old_figures(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = settings_for(server, db_url)
        collect_all(server, settings, engine)
        old = stored(engine, server, BY)
        server.tenant.restate()
        collect_all(server, settings, engine)
        assert stored(engine, server, BY) == truth(server, BY) != old


def test_attribution_by_tag_elimination_and_unattributed(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        summary = collect_all(server, settings_for(server, db_url), engine)
        with Session(engine) as session:
            rules = dict(session.execute(select(ResourceAttribution.rule, func.count()).group_by("rule")).all())
        assert {"tag", "offer-match", "ambiguous", "not-ai"} <= set(rules)
        # collect names each unattributed resource and the projects it could belong to
        assert summary.unattributed
        for _resource, why in summary.unattributed:
            assert "tag the SaaS resource" in why


def test_a_mapping_in_settings_resolves_an_ambiguous_resource(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = settings_for(server, db_url)
        summary = collect_all(server, settings, engine)
        resource, why = summary.unattributed[0]
        candidate = why.split(": ")[1].split(";")[0].split(", ")[0]
        mapped = settings_for(server, db_url, attribution={"resources": {resource: candidate}})
        after = collect_all(server, mapped, engine)
        assert resource not in [r for r, _ in after.unattributed]
        with Session(engine) as session:
            row = session.get(ResourceAttribution, resource)
            assert row is not None and (row.project, row.rule) == (candidate, "mapping")


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(h, marks=pytest.mark.fault(f"429 burst with {name}"))
        for h, name in [
            ("qpu", "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after"),
            ("entity", "...-entity-retry-after"),
            ("tenant", "...-tenant-retry-after"),
            ("clienttype", "...-clienttype-retry-after"),
            ("retry-after", "Retry-After"),
        ]
    ],
)
def test_a_429_burst_is_waited_out(db_url: str, engine: Engine, header: str) -> None:
    with emulator() as server:
        server.faults.throttle(3, retry_after=1, header=header)
        summary = collect_all(server, settings_for(server, db_url), engine)
        assert server.stats.count("cost_query", 429) == 3  # the burst did hit
        assert summary.status == "succeeded", summary.failures
        assert summary.throttled >= 3
        _exact(engine, server)
        with Session(engine) as session:  # the run's record counts the throttled answers it waited out
            run = session.get(CollectionRun, summary.run_id)
            assert run is not None and run.status == "succeeded" and run.throttled == summary.throttled


def test_real_qpu_limits_are_paced_not_failed(db_url: str, engine: Engine) -> None:
    # 4 subscriptions x 4 months = 16 QPU: more than the 12 per 10 s the tenant allows.
    with emulator(qpu_per_10s=12, qpu_per_minute=60, qpu_per_hour=600) as server:
        summary = collect_all(server, settings_for(server, db_url, costs={"qpu_share": 1.0}), engine)
        assert summary.status == "succeeded", summary.failures
        assert summary.qpu_used >= 16
        assert stored(engine, server, BY) == truth(server, BY)


@pytest.mark.fault("403 on one subscription")
def test_one_failing_subscription_does_not_stop_the_others(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        broken = server.tenant.subscriptions[0].subscription_id
        server.faults.fail_subscription(broken, status=403)
        summary = collect_all(server, settings_for(server, db_url), engine)
        assert summary.status == "partial"
        assert any(broken in f and "HTTP 403" in f for f in summary.failures)
        expected = {k: v for k, v in truth(server, ["subscription"]).items() if k[0] != broken}
        assert stored(engine, server, ["subscription"]) == expected
        with Session(engine) as session:
            run = session.get(CollectionRun, summary.run_id)
            assert run is not None and run.status == "partial" and broken in (run.error or "")
            failed = session.scalars(select(ScopeRun).where(ScopeRun.status == "failed")).all()
            assert len(failed) == 1 and broken in failed[0].scope
        # the next run, with the fault gone, repairs what was missed
        server.faults.clear()
        assert collect_all(server, settings_for(server, db_url), engine).status == "succeeded"
        _exact(engine, server)


def test_each_month_records_its_own_queries_while_the_next_is_fetched_ahead(db_url: str, engine: Engine) -> None:
    """The next month is fetched while this one is written; each recorded scope still holds the QPU of
    its own query (a page of it each), and a failed scope's later months are not queried at all."""
    with emulator() as server:
        broken = server.tenant.subscriptions[1].subscription_id
        server.faults.fail_subscription(broken, status=403)
        summary = collect_all(server, settings_for(server, db_url), engine)
        with Session(engine) as session:
            scopes = session.scalars(
                select(ScopeRun).where(ScopeRun.run_id == summary.run_id, ScopeRun.scope.like("costs %"))
            ).all()
        succeeded = [s for s in scopes if s.status == "succeeded"]
        assert len(succeeded) == 3 * len(costs.month_chunks("", "", history_start(server), server.tenant.today))
        assert all(s.qpu_used == 1 for s in succeeded)  # one page a month here, one QPU a month queried
        assert [s.qpu_used for s in scopes if s.status == "failed"] == [0]  # a 403 is not charged
        assert sum(s.qpu_used for s in scopes) == summary.qpu_used
        assert server.stats.count("cost_query", 403) == 1  # its next month was never asked for


def _http_error(status: int) -> Callable[[Faults], None]:
    return lambda faults: faults.server_error(2, status=status)


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        pytest.param(_http_error(s), str(s), marks=pytest.mark.fault(f"HTTP {s}"), id=str(s))
        for s in (500, 502, 503, 504)
    ]
    + [pytest.param(lambda f: f.reset(2), "reset", marks=pytest.mark.fault("connection reset"), id="reset")],
)
def test_transient_failures_are_retried(
    db_url: str, engine: Engine, fault: Callable[[Faults], None], kind: str
) -> None:
    with emulator() as server:
        fault(server.faults)
        summary = collect_all(server, settings_for(server, db_url), engine)
        assert server.stats.count("cost_query", kind) == 2  # both failures did hit
        assert summary.status == "succeeded", summary.failures
        _exact(engine, server)
        with Session(engine) as session:  # the record counts every answer Azure gave, the failed ones too
            run = session.get(CollectionRun, summary.run_id)
            assert run is not None and run.status == "succeeded" and run.scopes_failed == 0
            answers = server.stats.count("cost_query") - server.stats.count("cost_query", "reset")
            assert run.api_calls == answers


def test_pages_and_column_order_do_not_matter(db_url: str, engine: Engine) -> None:
    with emulator(page_size=7) as server:
        server.faults.shuffle_columns = True
        summary = collect_all(server, settings_for(server, db_url), engine)
        assert summary.status == "succeeded", summary.failures
        assert stored(engine, server, BY) == truth(server, BY)


@pytest.mark.fault("401: the token expired")
def test_an_expired_token_fails_with_the_fix_named(db_url: str, engine: Engine, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with emulator() as server:
        server.faults.expire_token(after_requests=0)
        with pytest.raises(Exception, match="COSTWATCH_ARM_TOKEN"):
            collect_all(server, settings_for(server, db_url), engine)
        with Session(engine) as session:
            run = session.scalars(select(CollectionRun)).one()
            assert run.status == "failed" and "401" in (run.error or "")
    assert TOKEN not in caplog.text


@pytest.mark.fault("401: the token expired mid-run")
def test_a_token_expiring_mid_run_fails_the_run_and_the_next_run_repairs(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = settings_for(server, db_url)
        server.faults.expire_token(after_requests=3, path=COST_QUERY_PATH)  # three cost months, then 401s
        expired = collect_all(server, settings, engine)
        assert server.stats.count("cost_query", 401) >= 1
        # Each subscription's costs fail once (its other months are not tried), each saying what to renew.
        subscriptions = {s.subscription_id for s in server.tenant.subscriptions}
        assert expired.status == "partial" and len(expired.failures) == len(subscriptions)
        assert all("HTTP 401" in f and "COSTWATCH_ARM_TOKEN" in f for f in expired.failures), expired.failures
        with Session(engine) as session:
            run = session.scalars(select(CollectionRun)).one()
            written = session.scalars(
                select(ScopeRun).where(ScopeRun.run_id == run.id, ScopeRun.scope.like("costs %"))
            ).all()
            months = session.execute(
                select(CostRow.subscription_id, func.min(CostRow.usage_date)).group_by(CostRow.subscription_id)
            ).all()
        assert run.status == "partial" and run.scopes_failed == len(subscriptions)
        assert all(f.split(": ")[0].removeprefix("costs ") in (run.error or "") for f in expired.failures)
        # What it finished is recorded and kept; each failure is recorded with nothing half-written.
        assert sorted(s.status for s in written) == ["failed"] * len(subscriptions) + ["succeeded"] * 3
        assert all(s.rows_written == 0 and s.rows_removed == 0 for s in written if s.status == "failed")
        assert len(months) == 1  # three months of the first subscription, nothing of the others
        _no_duplicates(engine)

        server.faults.clear()  # the token is renewed
        repaired = collect_all(server, settings, engine)
        assert repaired.status == "succeeded", repaired.failures
        _exact(engine, server)


@pytest.mark.fault("204 no content")
def test_an_empty_answer_keeps_what_is_stored(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = settings_for(server, db_url)
        collect_all(server, settings, engine)
        server.faults.no_content(100)
        empty = collect_all(server, settings, engine)
        assert server.stats.count("cost_query", 204) > 0
        assert empty.status == "succeeded"
        _exact(engine, server)
        with Session(engine) as session:  # each scope's record says Azure gave it nothing, and nothing went
            scopes = session.scalars(
                select(ScopeRun).where(ScopeRun.run_id == empty.run_id, ScopeRun.scope.like("costs %"))
            ).all()
        assert scopes and {(s.status, s.rows_written, s.rows_removed) for s in scopes} == {("succeeded", 0, 0)}


@pytest.mark.fault("204 no content")
def test_an_empty_first_answer_is_repaired_by_the_next_run(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = settings_for(server, db_url)
        server.faults.no_content(100)
        empty = collect_all(server, settings, engine)
        assert empty.status == "succeeded" and empty.rows_written == 0
        assert stored(engine, server, BY) == {}
        server.faults.clear()
        repaired = collect_all(server, settings, engine)
        assert repaired.status == "succeeded" and repaired.rows_written > 0
        _exact(engine, server)


def test_costwatch_keeps_to_its_share_of_the_query_budget(db_url: str, engine: Engine) -> None:
    # With half the budget (6 of 12 QPU per 10 s), 16 QPU of queries take at least two more windows.
    with emulator(qpu_per_10s=12, qpu_per_minute=60, qpu_per_hour=600) as server:
        started = time.monotonic()
        summary = collect_all(server, settings_for(server, db_url, costs={"qpu_share": 0.5}), engine)
        assert summary.status == "succeeded" and summary.throttled == 0
        assert time.monotonic() - started >= 20
        assert stored(engine, server, BY) == truth(server, BY)


def test_a_stretch_stored_by_another_collector_meanwhile_is_written_again_as_an_update(
    db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Two collectors backfilling the same month: the other one commits the stretch after this one
    # found it not stored and before it inserts. The insert must fail rather than double the rows,
    # and the stretch is then written as an update, with its rollups.
    real_insert, raced = cost_chunks.insert_new, []

    def insert_after_the_other_collector(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> int:
        if not raced:
            raced.append(len(rows))
            with Session(engine) as other, other.begin():  # its own connection and transaction
                upsert(other, CostRow, [{**row, "cost": row["cost"] * 2} for row in rows], COST_ROW_KEY)
        return real_insert(session, model, rows)

    monkeypatch.setattr(cost_chunks, "insert_new", insert_after_the_other_collector)
    with emulator() as server, caplog.at_level(logging.INFO, logger="collector.cost_chunks"):
        summary = collect_all(server, settings_for(server, db_url), engine)
        assert raced and summary.status == "succeeded"
        assert "stored meanwhile by another collector" in caplog.text
        _exact(engine, server)  # this collector's figures, not the other's doubled ones, and no row twice
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(CostRow)) == summary.rows_written
    kept = _rollup_tables(engine)  # the rollups kept as the stretch was written again: as the rows say
    rollup.rebuild(engine)
    assert _rollup_tables(engine) == kept
