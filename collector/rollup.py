"""The spend rollups, kept by the cost job in step with the cost rows (which stay the truth):

- `daily_spend`: per day, subscription, project, model, meter, kind and currency;
- `daily_totals`: per day, subscription, kind and currency (daily trends of everything);
- `monthly_spend`: per month, subscription, resource, project, model, meter, kind and currency, with the
  month's first and last day with a cost row (whole months, by resource too).

Pages and reports read them instead of scanning every cost row (docs/performance.md#rollups: a month of 500,000
rows took 0.5-0.9 s per read from the raw rows). A realistic tenant's daily rollup is nearly as long as
its AI cost rows (each project holds one resource per model), so whole months come from the monthly
one, a thirtieth of that, and keeping the resource there costs next to nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine, Integer, delete, func, insert, literal, or_, select, text
from sqlalchemy.orm import Session

from collector.attribution import UNATTRIBUTED
from collector.db.models import (
    CostRow,
    DailySpend,
    DailyTotal,
    MonthlySpend,
    ResourceAttribution,
    attributed_model,
    with_attribution,
)
from collector.db.session import transaction
from collector.db.types import money_add, money_sum
from collector.db.upsert import conflict_insert
from collector.periods import add_months, month_end

_TOTALS = ["cost", "is_estimated", "rows"]


def rebuild(
    engine: Engine, date_from: date | None = None, date_to: date | None = None, *, patience: float = 0.0
) -> None:
    """Recompute the rollups for [date_from, date_to] (all days when not given), in one transaction: the
    days, and every month holding one of them; waiting up to `patience` seconds for an unreachable store."""

    def write(session: Session) -> None:
        _take_turns(session)
        first, last = date_from, date_to
        if first is None or last is None:
            first, last = session.execute(select(func.min(CostRow.usage_date), func.max(CostRow.usage_date))).one()
            for table in (DailySpend, DailyTotal, MonthlySpend):
                session.execute(delete(table))
            if first is None or last is None:
                return
        _rebuild_months(session, first, last)

    transaction(engine, write, "the spend rollups", patience=patience)


def missing(engine: Engine) -> bool:
    """True when there are cost rows but no rollup (a store from before the rollups, or emptied by hand)."""
    with Session(engine) as session:
        rows = session.scalar(select(CostRow.id).limit(1)) is not None
        return rows and session.scalar(select(DailyTotal.usage_date).limit(1)) is None


def refresh_subscription_days(session: Session, subscription_id: str, first: date, last: date) -> None:
    """Recompute one subscription's rollups for [first, last] and every month holding one of those
    days, in the caller's transaction: cost_chunks.write_chunk commits a subscription-month's cost
    rows and their rollups together, so a crash never leaves one without the other. Every resource
    of those rows must be attributed already (collector.attribution_store).

    Days never rolled up before (a backfill's) have their sums added to their months' instead of each
    month being summed again from all its rows: a wide scope writes a month in stretches of a few
    days, and summing the whole month after each one read its first days' rows once per stretch."""
    _take_turns(session)
    # The days' rollups and their share of the months' are written together: with no daily total,
    # the months hold nothing of these days. (Read after taking turns, so another collector's
    # committed chunk of the same days is seen.)
    rolled_up = select(DailyTotal.usage_date).where(
        DailyTotal.subscription_id == subscription_id, DailyTotal.usage_date.between(first, last)
    )
    added = session.scalar(rolled_up.limit(1)) is None
    _rebuild_months(session, first, last, subscription_id, added)


def _take_turns(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # Two collectors writing together would both delete, then both insert the same days: take
        # turns. (SQLite's single writer already makes them.)
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('costwatch.daily_spend'))"))


def _rebuild_months(
    session: Session, first: date, last: date, subscription_id: str | None = None, added: bool = False
) -> None:
    """[first, last] a month at a time: each step reads one month of cost rows by index and groups
    them in memory, where one statement over years of rows would sort them all on disk. `added`: the
    days' rows are new to their months, whose rollup they are added to (refresh_subscription_days)."""
    month = first.replace(day=1)
    while month <= last:
        days = max(first, month), min(last, month_end(month))
        _rebuild_days(session, *days, subscription_id)
        if added:
            _add_to_month(session, month, *days, subscription_id)
        else:
            _rebuild_month(session, month, subscription_id)
        month = add_months(month, 1)


def _only(column: Any, subscription_id: str | None) -> list[Any]:
    """The condition keeping one subscription's rows (none: all subscriptions')."""
    return [] if subscription_id is None else [column == subscription_id]


def _attributed() -> dict[str, Any]:
    """The attribution of a cost row's resource, as the rollups key it ('' kind: not yet attributed)."""
    return {
        "project": func.coalesce(ResourceAttribution.project, UNATTRIBUTED),
        "model": attributed_model(),
        "spend_kind": func.coalesce(ResourceAttribution.spend_kind, ""),
    }


def _summed(keys: dict[str, Any], cost: Any, estimated: Any, rows: Any) -> Any:
    return select(
        *(value.label(name) for name, value in keys.items()),
        money_sum(cost),
        func.max(func.cast(estimated, Integer())) > 0,
        rows,
    ).group_by(*keys.values())


def _rebuild_days(session: Session, first: date, last: date, subscription_id: str | None = None) -> None:
    """The days [first, last] of the daily rollups, of one subscription or of all."""
    of_cost_rows = _only(CostRow.subscription_id, subscription_id)
    of_daily = _only(DailySpend.subscription_id, subscription_id)
    of_totals = _only(DailyTotal.subscription_id, subscription_id)
    keys = {
        "usage_date": CostRow.usage_date,
        "subscription_id": CostRow.subscription_id,
        "meter": CostRow.meter,
        "currency": CostRow.currency,
        **_attributed(),
    }
    days = with_attribution(_summed(keys, CostRow.cost, CostRow.is_estimated, func.count()).select_from(CostRow)).where(
        CostRow.usage_date.between(first, last), *of_cost_rows
    )
    session.execute(delete(DailySpend).where(DailySpend.usage_date.between(first, last), *of_daily))
    session.execute(insert(DailySpend).from_select([*keys, *_TOTALS], days))
    totals_keys = {
        "usage_date": DailySpend.usage_date,
        "subscription_id": DailySpend.subscription_id,
        "spend_kind": DailySpend.spend_kind,
        "currency": DailySpend.currency,
    }
    totals = _summed(totals_keys, DailySpend.cost, DailySpend.is_estimated, func.sum(DailySpend.rows)).where(
        DailySpend.usage_date.between(first, last), *of_daily
    )
    session.execute(delete(DailyTotal).where(DailyTotal.usage_date.between(first, last), *of_totals))
    session.execute(insert(DailyTotal).from_select([*totals_keys, *_TOTALS], totals))


def _month_of_rows(month: date, first: date, last: date, subscription_id: str | None) -> tuple[list[str], Any]:
    """The monthly rollup's columns, and its rows as summed from the cost rows of days [first, last]."""
    keys = {
        "subscription_id": CostRow.subscription_id,
        "resource_id": CostRow.resource_id,
        "meter": CostRow.meter,
        "currency": CostRow.currency,
        **_attributed(),
    }
    summed = with_attribution(
        _summed(keys, CostRow.cost, CostRow.is_estimated, func.count())
        .add_columns(func.min(CostRow.usage_date), func.max(CostRow.usage_date), literal(month))
        .select_from(CostRow)
    ).where(CostRow.usage_date.between(first, last), *_only(CostRow.subscription_id, subscription_id))
    return [*keys, *_TOTALS, "first_day", "last_day", "month"], summed  # month: a constant, not grouped by


def _rebuild_month(session: Session, month: date, subscription_id: str | None = None) -> None:
    columns, summed = _month_of_rows(month, month, month_end(month), subscription_id)
    session.execute(
        delete(MonthlySpend).where(MonthlySpend.month == month, *_only(MonthlySpend.subscription_id, subscription_id))
    )
    session.execute(insert(MonthlySpend).from_select(columns, summed))


def _add_to_month(session: Session, month: date, first: date, last: date, subscription_id: str | None) -> None:
    """Add the sums of days [first, last], new to the month, to the month's rollup: a sum, a count, an
    'any estimated' and the first and last day with a row all add up exactly."""
    columns, summed = _month_of_rows(month, first, last, subscription_id)
    dialect = session.get_bind().dialect.name
    statement = conflict_insert(dialect)(MonthlySpend).from_select(columns, summed)
    new, held = statement.excluded, MonthlySpend
    # SQLite's two-argument min() and max() are PostgreSQL's least() and greatest().
    least, greatest = (func.least, func.greatest) if dialect == "postgresql" else (func.min, func.max)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[c.name for c in MonthlySpend.__table__.primary_key],
            set_={
                "cost": money_add(held.cost, new.cost),
                "is_estimated": or_(held.is_estimated, new.is_estimated),
                "rows": held.rows + new.rows,
                "first_day": least(held.first_day, new.first_day),
                "last_day": greatest(held.last_day, new.last_day),
            },
        )
    )
