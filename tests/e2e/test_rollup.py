"""The daily rollup the pages read always agrees with the cost rows it sums."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from alembic import command
from collector import rollup, wide_scope
from collector.db.engine import alembic_config, upgrade
from collector.db.models import CostRow, DailySpend, DailyTotal, MonthlySpend
from collector.jobs.costs import collect
from collector.periods import add_months, month_start
from collector.read.spend import _from_rollup, _from_rows
from collector.runs import utcnow
from tests.emulated import collect_all, emulator, emulator_env, history_start, settings_for

COMBINATIONS = [["project"], ["project", "model", "meter"], ["subscription", "day"], ["model", "spend_kind"], ["day"]]


def _both(engine: Engine, server, by: list[str], include_other: bool = False) -> tuple[dict, dict]:
    start, end = history_start(server), server.tenant.today
    with Session(engine) as session:
        rolled = {
            (tuple(r.keys.values()), r.currency): (r.cost, r.estimated)
            for r in _from_rollup(session, start, end, by, include_other, {})
        }
        raw = {}
        for r in _from_rows(session, start, end, [*by, "resource"], include_other, {}):
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


def _rollup_tables(engine: Engine) -> dict[str, set[tuple]]:
    """Every row of every rollup, every column."""
    with Session(engine) as session:
        return {
            model.__tablename__: {tuple(row) for row in session.execute(select(model.__table__))}
            for model in (DailySpend, DailyTotal, MonthlySpend)
        }


@pytest.mark.parametrize("scope", ["per subscription", "wide, in stretches of days"])
def test_rollups_kept_as_rows_are_written_equal_those_rebuilt_from_the_rows(
    db_url: str, engine: Engine, scope: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A backfill adds each stretch's sums to its month's; a rerun recomputes its re-pulled days and
    # their months from the store: both must be what the rows say, to the row and the last cent.
    with emulator() as server:
        costs = {}
        if scope.startswith("wide"):
            monkeypatch.setattr(wide_scope, "WIDE_ROWS", 400)  # a few days of this tenant's rows
            costs = {"scope": server.tenant.wide_scopes["billing account"]}
        settings = settings_for(server, db_url, costs=costs)
        for _ in range(2):  # the backfill, then a run over the trailing window
            assert collect_all(server, settings, engine).status == "succeeded"
            kept = _rollup_tables(engine)
            rollup.rebuild(engine)
            assert _rollup_tables(engine) == kept and all(kept.values())


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


def test_a_collector_killed_between_chunks_leaves_rollups_that_agree_with_the_rows_it_stored(
    db_url: str, engine: Engine
) -> None:
    # Each chunk commits its rollups with its rows: what the pages read is right even before a rerun.
    with emulator() as server:
        command = [sys.executable, "-m", "collector.cli", "collect", "--only", "costs"]
        command += ["--since", history_start(server).isoformat()]
        root = Path(__file__).resolve().parents[2]
        env = emulator_env(server, db_url)
        process = subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        with Session(engine) as session:
            while process.poll() is None and time.monotonic() < deadline:
                if session.scalar(select(func.count(func.distinct(CostRow.subscription_id)))):
                    break  # a first subscription-month is stored: the run is among its chunks
                session.rollback()
                time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        with Session(engine) as session:
            stored = session.scalar(select(func.count()).select_from(CostRow))
            days = session.scalar(select(func.count(func.distinct(CostRow.usage_date))))
        assert stored and days < (server.tenant.today - history_start(server)).days + 1  # killed part-way
        for by in COMBINATIONS:
            rolled, raw = _both(engine, server, by, include_other=True)
            assert rolled == raw, by


def test_a_month_that_closes_is_made_final_in_the_rows_and_in_every_rollup(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        settings = settings_for(server, db_url)
        collect_all(server, settings, engine)

        def estimated(session: Session, model) -> int:
            return session.scalar(select(func.count()).select_from(model).where(model.is_estimated.is_(True))) or 0

        with Session(engine) as session:
            assert estimated(session, CostRow) and estimated(session, DailySpend)  # this month is open
        # The 10th of next month: this month has closed, the run's window is next month's days.
        later = add_months(month_start(server.tenant.today), 1) + timedelta(days=9)
        summary = collect(settings, engine, today=later)
        assert summary.status == "succeeded", summary.failures
        with Session(engine) as session:
            assert [estimated(session, m) for m in (CostRow, DailySpend, DailyTotal, MonthlySpend)] == [0, 0, 0, 0]
        for by in COMBINATIONS:
            rolled, raw = _both(engine, server, by, include_other=True)
            assert rolled == raw, by


def _raw(session: Session, start, end, by: list[str]) -> dict:
    out: dict = {}
    for r in _from_rows(session, start, end, [*by, "resource"], False, {}):
        key = (tuple(r.keys[d] for d in by), r.currency)
        cost, estimated = out.get(key, (Decimal(0), False))
        out[key] = (cost + r.cost, estimated or r.estimated)
    return out


def _rollup_key(row: DailySpend | MonthlySpend) -> tuple[str, ...]:
    return (row.subscription_id, row.project, row.model, row.meter, row.spend_kind, row.currency)


def test_whole_months_from_the_monthly_rollup_and_the_days_around_them_agree_with_the_rows(
    db_url: str, engine: Engine
) -> None:
    with emulator() as server:
        settings = settings_for(server, db_url)
        collect_all(server, settings, engine)
        first, today = history_start(server), server.tenant.today
        month = today.replace(day=1)
        ranges = [
            (first, today),  # every month whole
            (first + timedelta(days=9), today - timedelta(days=3)),  # partial at both ends
            (month, today + timedelta(days=40)),  # this month to date, and days with no data yet
            (first + timedelta(days=2), first + timedelta(days=12)),  # inside one month
            (first - timedelta(days=60), first - timedelta(days=1)),  # before any data
        ]
        with Session(engine) as session:
            for start, end in ranges:
                for by in (["project"], ["model", "meter", "subscription"], [], ["subscription", "spend_kind"]):
                    rolled = {
                        (tuple(r.keys.values()), r.currency): (r.cost, r.estimated)
                        for r in _from_rollup(session, start, end, by, False, {})
                    }
                    assert rolled == _raw(session, start, end, by), (start, end, by)
        # a run that rewrites a few days keeps each month's total equal to its days
        collect(settings, engine, today=today)
        with Session(engine) as session:
            monthly: dict = {}
            for m in session.scalars(select(MonthlySpend)):  # per resource: summed over the resources here
                key = (m.month, *_rollup_key(m))
                monthly[key] = monthly.get(key, Decimal(0)) + m.cost
            daily: dict = {}
            for d in session.scalars(select(DailySpend)):
                key = (d.usage_date.replace(day=1), *_rollup_key(d))
                daily[key] = daily.get(key, Decimal(0)) + d.cost
            totals = {
                (t.usage_date, t.subscription_id, t.spend_kind, t.currency): t.cost
                for t in session.scalars(select(DailyTotal))
            }
            by_day: dict = {}
            for d in session.scalars(select(DailySpend)):
                key = (d.usage_date, d.subscription_id, d.spend_kind, d.currency)
                by_day[key] = by_day.get(key, Decimal(0)) + d.cost
        assert monthly == daily and len(monthly) > 0
        assert totals == by_day


def test_the_migration_fills_the_monthly_rollup_from_the_daily_one(db_url: str, engine: Engine) -> None:
    with emulator() as server:
        collect_all(server, settings_for(server, db_url), engine)
    built = _months(engine), _totals(engine)
    engine.dispose()
    command.downgrade(alembic_config(db_url), "0006")  # a store from before these rollups
    upgrade(db_url)
    assert (_months(engine), _totals(engine)) == built and all(built)


def _months(engine: Engine) -> dict:
    with Session(engine) as session:
        months = session.scalars(select(MonthlySpend))
        return {(m.month, m.resource_id, *_rollup_key(m)): (m.cost, m.first_day, m.last_day) for m in months}


def _totals(engine: Engine) -> dict:
    with Session(engine) as session:
        totals = session.scalars(select(DailyTotal))
        return {(t.usage_date, t.subscription_id, t.spend_kind, t.currency): (t.cost, t.rows) for t in totals}
