"""The daily rollup the pages read always agrees with the cost rows it sums."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from collector.db.models import CostRow
from collector.pipeline import collect
from collector.runs import utcnow
from collector.spend import _from_rollup, spend
from tests.emulated import collect_all, emulator, history_start, settings_for

COMBINATIONS = [["project"], ["project", "model", "meter"], ["subscription", "day"], ["model", "spend_kind"], ["day"]]


def _both(engine: Engine, server, by: list[str], include_other: bool = False) -> tuple[dict, dict]:
    start, end = history_start(server), server.tenant.today
    with Session(engine) as session:
        rolled = {
            (tuple(r.keys.values()), r.currency): (r.cost, r.estimated)
            for r in _from_rollup(session, start, end, by, include_other, {})
        }
        raw = {}
        for r in spend(session, start, end, [*by, "resource"], include_other=include_other):
            key = (tuple(r.keys[d] for d in by), r.currency)
            cost, estimated = raw.get(key, (Decimal(0), False))
            raw[key] = (cost + r.cost, estimated or r.estimated)
    return rolled, raw


@pytest.mark.parametrize("by", COMBINATIONS, ids=lambda by: ",".join(by))
def test_the_rollup_equals_the_rows(db_url: str, engine: Engine, by: list[str]) -> None:
    with emulator() as server:
        collect_all(server, settings_for(server, db_url), engine)
        rolled, raw = _both(engine, server, by, include_other=True)
        assert rolled == raw


def test_rows_an_interrupted_run_left_outside_the_window_reach_the_rollup(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = settings_for(server, db_url)
        collect_all(server, settings, engine)
        old_day = history_start(server) + timedelta(days=3)
        with Session(engine) as session, session.begin():  # what a backfill killed after one month left
            row = session.scalars(select(CostRow).where(CostRow.usage_date == old_day).limit(1)).one()
            session.execute(
                update(CostRow).where(CostRow.id == row.id).values(cost=row.cost + Decimal("1000"), updated_at=utcnow())
            )
        summary = collect(settings, engine, today=server.tenant.today)  # the default window, not that month
        assert summary.window_from is not None and summary.window_from > old_day
        rolled, raw = _both(engine, server, ["day"], include_other=True)
        assert rolled == raw
