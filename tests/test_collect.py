"""End to end: the official SDKs against the emulator over HTTPS, into SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from collector.db.models import CollectionRun, CostRow, ResourceAttribution, ScopeRun
from tests.emulated import TOKEN, collect_all, emulator, settings_for, stored, truth

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


@pytest.mark.parametrize("header", ["qpu", "entity", "tenant", "clienttype", "retry-after"])
def test_a_429_burst_is_waited_out(db_url: str, engine: Engine, header: str) -> None:
    with emulator() as server:
        server.faults.throttle(3, retry_after=1, header=header)
        summary = collect_all(server, settings_for(server, db_url), engine)
        assert summary.status == "succeeded", summary.failures
        assert summary.throttled >= 3
        assert stored(engine, server, BY) == truth(server, BY)


def test_real_qpu_limits_are_paced_not_failed(db_url: str, engine: Engine) -> None:
    # 4 subscriptions x 4 months = 16 QPU: more than the 12 per 10 s the tenant allows.
    with emulator(qpu_per_10s=12, qpu_per_minute=60, qpu_per_hour=600) as server:
        summary = collect_all(server, settings_for(server, db_url, costs={"qpu_share": 1.0}), engine)
        assert summary.status == "succeeded", summary.failures
        assert summary.qpu_used >= 16
        assert stored(engine, server, BY) == truth(server, BY)


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
        assert stored(engine, server, ["subscription"]) == truth(server, ["subscription"])


@pytest.mark.parametrize(
    "fault",
    [
        lambda f: f.server_error(2, status=500),
        lambda f: f.server_error(2, status=502),
        lambda f: f.server_error(2, status=503),
        lambda f: f.server_error(2, status=504),
        lambda f: f.reset(2),
    ],
    ids=["500", "502", "503", "504", "reset"],
)
def test_transient_failures_are_retried(db_url: str, engine: Engine, fault) -> None:
    with emulator() as server:
        fault(server.faults)
        summary = collect_all(server, settings_for(server, db_url), engine)
        assert summary.status == "succeeded", summary.failures
        assert stored(engine, server, BY) == truth(server, BY)


def test_pages_and_column_order_do_not_matter(db_url: str, engine: Engine) -> None:
    with emulator(page_size=7) as server:
        server.faults.shuffle_columns = True
        summary = collect_all(server, settings_for(server, db_url), engine)
        assert summary.status == "succeeded", summary.failures
        assert stored(engine, server, BY) == truth(server, BY)


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


def test_an_empty_answer_keeps_what_is_stored(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = settings_for(server, db_url)
        collect_all(server, settings, engine)
        server.faults.no_content(100)
        assert collect_all(server, settings, engine).status == "succeeded"
        assert stored(engine, server, BY) == truth(server, BY)


def test_costwatch_keeps_to_its_share_of_the_query_budget(db_url: str, engine: Engine) -> None:
    # With half the budget (6 of 12 QPU per 10 s), 16 QPU of queries take at least two more windows.
    with emulator(qpu_per_10s=12, qpu_per_minute=60, qpu_per_hour=600) as server:
        started = time.monotonic()
        summary = collect_all(server, settings_for(server, db_url, costs={"qpu_share": 0.5}), engine)
        assert summary.status == "succeeded" and summary.throttled == 0
        assert time.monotonic() - started >= 20
        assert stored(engine, server, BY) == truth(server, BY)
