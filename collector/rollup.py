"""The spend rollups: `daily_spend`, cost rows summed per day, subscription, project, model, meter and
currency with the attribution applied; `monthly_spend`, the same per month; `daily_totals`, per day,
subscription, kind and currency only. Pages and reports read
them instead of scanning every cost row (bench/README.md: a month of 500,000 rows took 0.5-0.9 s per
read from the raw rows; a realistic tenant's daily rollup is nearly as long as its AI cost rows, since
each project holds one resource per model, so whole months are read from the monthly one)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, Integer, delete, func, insert, literal, select, text
from sqlalchemy.orm import Session

from collector.attribution import UNATTRIBUTED
from collector.db.models import CostRow, DailySpend, DailyTotal, MonthlySpend, ResourceAttribution
from collector.db.session import transaction
from collector.db.types import money_sum
from collector.settings import add_months, month_end


def rebuild(engine: Engine, date_from: date | None = None, date_to: date | None = None) -> None:
    """Recompute the rollups for [date_from, date_to] (all days when not given), in one transaction: the
    days, then every month holding one of them, from its days."""
    project = func.coalesce(ResourceAttribution.project, UNATTRIBUTED)
    model = func.coalesce(ResourceAttribution.model, "")
    kind = func.coalesce(ResourceAttribution.spend_kind, "")
    keys = (CostRow.usage_date, CostRow.subscription_id, project, model, CostRow.meter, kind, CostRow.currency)
    source = (
        select(
            *keys,
            money_sum(CostRow.cost),
            func.max(func.cast(CostRow.is_estimated, Integer())) > 0,
            func.count(),
        )
        .select_from(CostRow)
        .outerjoin(ResourceAttribution, ResourceAttribution.resource_id == CostRow.resource_id)
        .group_by(*keys)
    )
    old = delete(DailySpend)
    if date_from is not None and date_to is not None:
        source = source.where(CostRow.usage_date.between(date_from, date_to))
        old = old.where(DailySpend.usage_date.between(date_from, date_to))
    columns = [
        "usage_date",
        "subscription_id",
        "project",
        "model",
        "meter",
        "spend_kind",
        "currency",
        "cost",
        "is_estimated",
        "rows",
    ]

    def write(session: Session) -> None:
        if session.get_bind().dialect.name == "postgresql":
            # Two collectors finishing together would both delete, then both insert the same days:
            # take turns. (SQLite's single writer already makes them.)
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext('costwatch.daily_spend'))"))
        session.execute(old)
        session.execute(insert(DailySpend).from_select(columns, source))
        _rebuild_totals(session, date_from, date_to)
        _rebuild_months(session, date_from, date_to, columns)

    transaction(engine, write, "the spend rollups")


def _rebuild_totals(session: Session, date_from: date | None, date_to: date | None) -> None:
    keys = (DailySpend.usage_date, DailySpend.subscription_id, DailySpend.spend_kind, DailySpend.currency)
    summed = select(
        *keys,
        money_sum(DailySpend.cost),
        func.max(func.cast(DailySpend.is_estimated, Integer())) > 0,
        func.sum(DailySpend.rows),
    ).group_by(*keys)
    old = delete(DailyTotal)
    if date_from is not None and date_to is not None:
        summed = summed.where(DailySpend.usage_date.between(date_from, date_to))
        old = old.where(DailyTotal.usage_date.between(date_from, date_to))
    session.execute(old)
    wanted = ["usage_date", "subscription_id", "spend_kind", "currency", "cost", "is_estimated", "rows"]
    session.execute(insert(DailyTotal).from_select(wanted, summed))


def _rebuild_months(session: Session, date_from: date | None, date_to: date | None, columns: list[str]) -> None:
    if date_from is None or date_to is None:
        session.execute(delete(MonthlySpend))
        span = select(func.min(DailySpend.usage_date), func.max(DailySpend.usage_date))
        date_from, date_to = session.execute(span).one()
        if date_from is None or date_to is None:
            return
    month = date_from.replace(day=1)
    keys = (
        DailySpend.subscription_id,
        DailySpend.project,
        DailySpend.model,
        DailySpend.meter,
        DailySpend.spend_kind,
        DailySpend.currency,
    )
    while month <= date_to:
        last = month_end(month)
        session.execute(delete(MonthlySpend).where(MonthlySpend.month == month))
        summed = (
            select(
                literal(month).label("month"),
                *keys,
                money_sum(DailySpend.cost),
                func.max(func.cast(DailySpend.is_estimated, Integer())) > 0,
                func.sum(DailySpend.rows),
                func.min(DailySpend.usage_date),
                func.max(DailySpend.usage_date),
            )
            .where(DailySpend.usage_date.between(month, last))
            .group_by(*keys)
        )
        wanted = ["month", *columns[1:], "first_day", "last_day"]
        session.execute(insert(MonthlySpend).from_select(wanted, summed))
        month = add_months(month, 1)
