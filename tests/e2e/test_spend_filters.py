"""Filters applied by the store (`spend(where=...)`) give exactly what filtering every row afterwards
gives, on the rollup and on the cost rows, including spend no run has attributed yet."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from collector import rollup
from collector.attribution import UNATTRIBUTED
from collector.db.models import ResourceAttribution
from collector.read.spend import SpendRow, _from_rows, spend
from dashboard.figures import pushed_filters
from tests.emulated import collect_all, emulator, history_start, settings_for

BY = ["project", "model", "meter", "subscription", "resource"]


def _totals(rows: Iterable[SpendRow], by: list[str]) -> dict[tuple, Decimal]:
    out: dict[tuple, Decimal] = {}
    for r in rows:
        key = (*(r.keys[d] for d in by), r.currency)
        out[key] = out.get(key, Decimal(0)) + r.cost
    return out


def _filtered_afterwards(rows: list[SpendRow], where: dict[str, list[str]], by: list[str]) -> dict[tuple, Decimal]:
    def keep(r: SpendRow) -> bool:
        return all(
            str(r.currency if name == "currency" else r.keys[name]).lower() in {v.lower() for v in values}
            for name, values in where.items()
        )

    return _totals([r for r in rows if keep(r)], by)


@pytest.fixture
def collected(db_url: str, engine: Engine):
    with emulator() as server:
        collect_all(server, settings_for(server, db_url), engine)
        yield server


def _every_row(session: Session, start, end) -> list[SpendRow]:
    """Straight from the cost rows, for comparison with whatever rollup spend() reads."""
    return _from_rows(session, start, end, BY, False, {})


def _cases(session: Session, start, end) -> list[dict[str, list[str]]]:
    everything = _every_row(session, start, end)
    projects = sorted({r.keys["project"] for r in everything if r.keys["project"] != UNATTRIBUTED})
    models = sorted({r.keys["model"] for r in everything if r.keys["model"]})
    resource = next(r.keys["resource"] for r in everything if r.keys["project"] == projects[0])
    return [
        {"project": [projects[0]]},
        {"project": [projects[0].upper(), projects[-1]]},  # case does not matter
        {"project": [UNATTRIBUTED]},
        {"model": [models[0]]},
        {"model": [models[0]], "project": projects[:3]},
        {"currency": ["eur"]},
        {"meter": [everything[0].keys["meter"]]},
        {"subscription": [everything[-1].keys["subscription"]]},
        {"resource": [resource.upper()]},
        {"project": []},  # a viewer allowed no project sees nothing
    ]


@pytest.mark.parametrize("by", [["project"], ["model", "meter"], ["project", "resource"], ["resource", "subscription"]])
@pytest.mark.parametrize("days", [(0, 0), (10, 4)], ids=["whole months", "partial months"])
def test_store_filters_equal_filtering_afterwards(collected, engine: Engine, by: list[str], days) -> None:
    start = history_start(collected) + timedelta(days=days[0])
    end = collected.tenant.today - timedelta(days=days[1])
    with Session(engine) as session:
        everything = _every_row(session, start, end)
        cases = _cases(session, start, end)
        for where in cases:
            expected = _filtered_afterwards(everything, where, by)
            assert _totals(spend(session, start, end, by, where=where), by) == expected, where
        assert any(_totals(spend(session, start, end, by, where=w), by) for w in cases[:3])  # not all empty


def test_spend_not_yet_attributed_is_found_by_an_unattributed_filter(collected, engine: Engine) -> None:
    """A run stopped between writing cost rows and attributing them leaves resources with no attribution:
    their spend counts as unattributed, on the resource path too."""
    start, end = history_start(collected), collected.tenant.today
    with Session(engine) as session, session.begin():
        victim = session.scalars(
            select(ResourceAttribution.resource_id).where(ResourceAttribution.project.is_not(None)).limit(1)
        ).one()
        session.execute(delete(ResourceAttribution).where(ResourceAttribution.resource_id == victim))
    rollup.rebuild(engine)
    with Session(engine) as session:
        by_resource = spend(session, start, end, ["resource"], where={"project": [UNATTRIBUTED]})
        total = spend(session, start, end, [], where={"project": [UNATTRIBUTED]})
    assert victim in {r.keys["resource"] for r in by_resource}
    assert _totals(by_resource, []) == _totals(total, [])


def test_unknown_filters_are_refused_with_the_choices(engine: Engine) -> None:
    with Session(engine) as session, pytest.raises(ValueError, match=r"\['colour'\]; choose from project"):
        spend(session, date(2026, 11, 1), date(2026, 11, 30), ["project"], where={"colour": ["red"]})


def test_the_view_pushes_its_scope_and_cost_centers_down_as_projects() -> None:
    centers = {("s1", "proj-a"): "CC-1", ("s2", "proj-b"): "cc-1", ("s1", "proj-c"): "CC-2", ("s2", "proj-c"): "cc-1"}
    filters = (("cost_center", ("cc-1",)), ("model", ("Llama",)), ("resource_group", ("rg-x",)))
    # proj-c is cc-1 in one subscription only: pushed by name, and regroup() keeps that subscription's rows.
    assert pushed_filters(filters, None, centers) == {"model": {"llama"}, "project": {"proj-a", "proj-b", "proj-c"}}
    assert pushed_filters(filters, ("proj-b",), centers) == {"model": {"llama"}, "project": {"proj-b"}}
    assert pushed_filters((("project", ("Proj-C",)),), ("proj-a",), {}) == {"project": set()}
    assert pushed_filters((), None, {}) == {}
