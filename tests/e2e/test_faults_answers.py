"""Answers that look like success but are not: JSON that isn't, JSON cut short, a nextLink that
repeats, a row on two pages. None of them may cost a cent, double a row or remove a resource."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from collector.db.models import CollectionRun, InventoryEvent, MarketplaceSubscription, SaasResource, ScopeRun
from collector.jobs.inventory import run_inventory
from emulator import EmulatorServer, Faults
from tests.e2e.test_faults import _exact, _no_duplicates
from tests.emulated import BY, collect_all, emulator, settings_for, stored

# Pages of 100 rows: every (subscription, month) chunk's answer has several pages.
PAGE_SIZE = 100


def _fails_the_scope_then_repairs(
    db_url: str, engine: Engine, fault: str, arm: Callable[[Faults], None], expected: str
) -> None:
    """Clean run; a run with the fault (one subscription's costs fail, nothing stored changes, the
    records say why); a clean run again (exact)."""
    with emulator(page_size=PAGE_SIZE) as server:
        settings = settings_for(server, db_url)
        first = collect_all(server, settings, engine)
        assert first.status == "succeeded", first.failures
        _exact(engine, server)
        views = (BY, ["subscription"], ["day", "resource"])
        before = [stored(engine, server, by, include_other=True) for by in views]

        arm(server.faults)
        faulty = collect_all(server, settings, engine)
        assert server.stats.count("cost_query", fault) == 1  # the fault did hit
        assert faulty.status == "partial", faulty.failures
        assert [stored(engine, server, by, include_other=True) for by in views] == before
        _no_duplicates(engine)
        with Session(engine) as session:
            run = session.get(CollectionRun, faulty.run_id)
            failed = session.scalars(
                select(ScopeRun).where(ScopeRun.run_id == faulty.run_id, ScopeRun.status == "failed")
            ).all()
        assert run is not None and run.status == "partial" and run.scopes_failed == 1
        assert len(failed) == 1, [f.scope for f in failed]
        scope, error = failed[0].scope, failed[0].error or ""
        subscription = scope.removeprefix("costs /subscriptions/")
        assert scope.startswith("costs /subscriptions/") and subscription in error
        assert failed[0].rows_written == 0 and failed[0].rows_removed == 0  # nothing half-written
        assert re.search(expected, error, re.IGNORECASE), error  # says what was expected
        assert error in (run.error or "")

        server.faults.clear()
        repaired = collect_all(server, settings, engine)
        assert repaired.status == "succeeded", repaired.failures
        _exact(engine, server)


@pytest.mark.fault("invalid JSON")
def test_invalid_json_fails_the_scope_and_the_next_run_repairs(db_url: str, engine: Engine) -> None:
    _fails_the_scope_then_repairs(
        db_url, engine, "invalid_json", lambda faults: faults.invalid_json(1), r"expected\b.*\bJSON"
    )


@pytest.mark.fault("truncated JSON")
def test_truncated_json_fails_the_scope_and_the_next_run_repairs(db_url: str, engine: Engine) -> None:
    _fails_the_scope_then_repairs(
        db_url, engine, "truncated_json", lambda faults: faults.truncated_json(1), r"expected\b.*\bJSON"
    )


@pytest.mark.fault("a nextLink that repeats itself")
def test_a_repeating_next_link_fails_the_scope_and_the_next_run_repairs(db_url: str, engine: Engine) -> None:
    # The second page of the first chunk links to itself: pages 1-2 were read, the rest of the month never.
    _fails_the_scope_then_repairs(
        db_url, engine, "repeat_next_link", lambda faults: faults.repeat_next_link(1), r"nextLink repeats"
    )


@pytest.mark.fault("the same row on two pages")
def test_a_row_on_two_pages_is_stored_once(db_url: str, engine: Engine) -> None:
    with emulator(page_size=PAGE_SIZE) as server:
        # Ten pages: first pages (their own last row again) and later ones (the page before's first row).
        server.faults.duplicate_rows(10)
        summary = collect_all(server, settings_for(server, db_url), engine)
        assert server.stats.count("cost_query", "duplicate_rows") == 10
        assert summary.status == "succeeded", summary.failures
        assert summary.rows_rejected == 0
        _exact(engine, server)


def _inventory(engine: Engine) -> dict[str, set[str]]:
    with Session(engine) as session:
        return {
            model.__tablename__: set(session.scalars(select(model.resource_id).where(model.removed_at.is_(None))))
            for model in (MarketplaceSubscription, SaasResource)
        }


def _inventory_truth(server: EmulatorServer) -> dict[str, set[str]]:
    t = server.tenant
    return {
        MarketplaceSubscription.__tablename__: {m.id.lower() for m in t.marketplace_subscriptions},
        SaasResource.__tablename__: {s.id.lower() for s in t.saas_resources},
    }


@pytest.mark.fault("a nextLink that repeats itself (inventory lists)")
@pytest.mark.parametrize(
    ("path", "route"),
    [
        (r"/marketplaceSubscriptions$", "marketplace_subscriptions"),
        (r"/providers/Microsoft\.SaaS/resources$", "saas_resources"),
    ],
    ids=["marketplace-subscriptions", "saas-resources"],
)
def test_a_repeating_next_link_in_an_inventory_list_fails_the_scope_and_removes_nothing(
    db_url: str, engine: Engine, path: str, route: str
) -> None:
    with emulator(page_size=1) as server:  # one item a page: every list of two or more pages
        settings = settings_for(server, db_url)
        baseline = run_inventory(settings, engine)
        assert baseline.status == "succeeded", baseline.failures
        assert _inventory(engine) == _inventory_truth(server)

        server.faults.repeat_next_link(1, path=path)
        faulty = run_inventory(settings, engine)
        assert server.stats.count(route, "repeat_next_link") == 1
        assert faulty.status == "partial", faulty.failures
        with Session(engine) as session:
            failed = session.scalars(
                select(ScopeRun).where(ScopeRun.run_id == faulty.run_id, ScopeRun.status == "failed")
            ).all()
            events = session.scalars(select(InventoryEvent)).all()
        assert len(failed) == 1 and failed[0].scope.startswith("inventory /subscriptions/")
        assert re.search("nextLink repeats", failed[0].error or ""), failed[0].error
        assert [(e.kind, e.resource_id) for e in events if e.kind == "removed"] == []
        assert _inventory(engine) == _inventory_truth(server)

        server.faults.clear()
        repaired = run_inventory(settings, engine)
        assert repaired.status == "succeeded", repaired.failures
        assert _inventory(engine) == _inventory_truth(server)
        with Session(engine) as session:
            assert session.scalars(select(InventoryEvent)).all() == []  # nothing changed, nothing recorded
