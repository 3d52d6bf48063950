"""Spend grouped by any of project, model, meter, subscription, resource and day, per currency.

The one query behind `costwatch spend`; the dashboard and the reports read the same figures, from
the coarsest rollup (collector.rollup) that answers: whole months from the monthly one, other days
from the daily ones. Days by resource come from the cost rows themselves, and then a project or model
filter is first turned into the list of resources it covers (from the small attribution table) so
that only those resources' rows are read, by index.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, exists, func, or_, select
from sqlalchemy.orm import Session

from collector.attribution import UNATTRIBUTED
from collector.db.models import (
    CostRow,
    DailySpend,
    DailyTotal,
    MeterModel,
    MonthlySpend,
    ResourceAttribution,
    attributed_model,
    with_attribution,
)
from collector.db.types import money_sum
from collector.periods import add_months, month_end

AI_SPEND = ("marketplace", "foundry", "managed_compute")


def _dimensions() -> dict[str, ColumnElement[Any]]:
    return {
        "project": func.coalesce(ResourceAttribution.project, UNATTRIBUTED).label("project"),
        "model": attributed_model().label("model"),
        "meter": CostRow.meter.label("meter"),
        "subscription": CostRow.subscription_id.label("subscription"),
        "resource": CostRow.resource_id.label("resource"),
        "day": CostRow.usage_date.label("day"),
        "spend_kind": func.coalesce(ResourceAttribution.spend_kind, "").label("spend_kind"),
    }


DIMENSIONS = tuple(_dimensions())
# What `where` may restrict: every dimension but the day (the dates do that), and the currency.
FILTERS = (*(d for d in DIMENSIONS if d != "day"), "currency")
Where = Mapping[str, Collection[str]]


@dataclass(frozen=True)
class SpendRow:
    keys: dict[str, Any]
    cost: Decimal
    currency: str
    estimated: bool  # some of the figure's days are still estimates


def spend(
    session: Session,
    date_from: date,
    date_to: date,
    by: list[str],
    *,
    include_other: bool = False,
    where: Where | None = None,
) -> list[SpendRow]:
    """Exact totals for [date_from, date_to] (inclusive) grouped by `by`, never adding two currencies.

    `where` keeps only the rows whose value of each named filter (see FILTERS) is one of the given
    values, compared case-insensitively; an empty collection keeps nothing."""
    unknown = [d for d in by if d not in DIMENSIONS] + [f for f in where or {} if f not in FILTERS]
    if unknown:
        raise ValueError(f"unknown dimension(s) {unknown}; choose from {', '.join(DIMENSIONS)} (filters: currency too)")
    wanted = {name: sorted({v.lower() for v in values}) for name, values in (where or {}).items()}
    return _from_rollup(session, date_from, date_to, by, include_other, wanted)


def _from_rows(
    session: Session, date_from: date, date_to: date, by: list[str], include_other: bool, where: dict[str, list[str]]
) -> list[SpendRow]:
    """The figures from the cost rows themselves (by resource, for days outside whole months)."""
    dims = _dimensions()
    query = with_attribution(_grouped(dims, by, CostRow))
    query = query.where(CostRow.usage_date.between(date_from, date_to))
    if not include_other:
        # A resource not yet attributed (a run stopped before attribution) counts as unattributed AI
        # spend until the next run: shown, never silently left out.
        query = query.where(or_(ResourceAttribution.spend_kind.in_(AI_SPEND), ResourceAttribution.spend_kind.is_(None)))
    query = _filtered(query, where, dims, CostRow)
    resources = _resources_of(session, where, date_from, date_to)
    if resources is not None:
        query = query.where(CostRow.resource_id.in_(resources))
    return _rows(session, query, by)


def _filtered(
    query: Any, where: dict[str, list[str]], dims: dict[str, ColumnElement[Any]], source: type[CostRow] | Rollup
) -> Any:
    """`where` applied to a read of `source`: case-insensitively, but resource IDs as they are (stored
    lower-case, as Azure's cost rows give them), so that an index on them serves."""
    for name, values in where.items():
        if name == "resource":
            query = query.where(source.resource_id.in_(values))  # type: ignore[union-attr]  # only where held
        else:
            column = source.currency if name == "currency" else dims[name]
            query = query.where(func.lower(column).in_(values))
    return query


def _resources_of(session: Session, where: dict[str, list[str]], date_from: date, date_to: date) -> Select[Any] | None:
    """The resources a project or model filter can match, as a subquery on the attribution table, or
    None when it must not narrow the read: no such filter, or it asks for unattributed spend while some
    cost rows of the period have no attribution at all (a run stopped before attributing them)."""
    wanted = {name: where[name] for name in ("project", "model") if name in where}
    if not wanted:
        return None
    pending = select(exists().where(DailySpend.spend_kind == "", DailySpend.usage_date.between(date_from, date_to)))
    asks_unattributed = UNATTRIBUTED.lower() in wanted.get("project", ()) or "" in wanted.get("model", ())
    if asks_unattributed and session.scalar(pending):  # '' in the rollup: spend not yet attributed
        return None
    dims = _dimensions()
    # A Foundry resource's model is its meters': its meter models are looked at too.
    resources = select(ResourceAttribution.resource_id).outerjoin(
        MeterModel, MeterModel.resource_id == ResourceAttribution.resource_id
    )
    for name, values in wanted.items():
        resources = resources.where(func.lower(dims[name]).in_(values))
    return resources


Rollup = type[DailySpend] | type[DailyTotal] | type[MonthlySpend]
_ROLLUP_COLUMNS = {
    "resource": "resource_id",
    "project": "project",
    "model": "model",
    "meter": "meter",
    "subscription": "subscription_id",
    "spend_kind": "spend_kind",
    "day": "usage_date",
}


def _rollup_dimensions(source: Rollup) -> dict[str, ColumnElement[Any]]:
    """The dimensions a rollup holds, labelled as in _dimensions()."""
    return {
        name: getattr(source, column).label(name) for name, column in _ROLLUP_COLUMNS.items() if hasattr(source, column)
    }


def _from_rollup(
    session: Session, date_from: date, date_to: date, by: list[str], include_other: bool, where: dict[str, list[str]]
) -> list[SpendRow]:
    """Whole months from `monthly_spend`; other days from `daily_totals` when it holds every dimension
    asked for, else from `daily_spend`, and by resource from the cost rows."""

    def read(source: Rollup, period: ColumnElement[bool]) -> list[SpendRow]:
        dims = _rollup_dimensions(source)
        query = _grouped(dims, by, source).where(period)
        if not include_other:
            query = query.where(source.spend_kind.in_([*AI_SPEND, ""]))  # '' = not yet attributed
        return _rows(session, _filtered(query, where, dims, source), by)

    needed = {*by, *where} - {"currency"}

    def days(first: date, last: date) -> list[SpendRow]:
        if "resource" in needed:
            return _from_rows(session, first, last, by, include_other, where)
        source = DailyTotal if needed <= set(_rollup_dimensions(DailyTotal)) else DailySpend
        return read(source, source.usage_date.between(first, last))

    if "day" in by:
        return days(date_from, date_to)
    months, stretches = _whole_months(session, date_from, date_to)
    parts = [read(MonthlySpend, MonthlySpend.month.in_(months))] if months else []
    parts += [days(first, last) for first, last in stretches]
    return parts[0] if len(parts) == 1 else _merged(parts, by)


def _whole_months(session: Session, date_from: date, date_to: date) -> tuple[list[date], list[tuple[date, date]]]:
    """Split [date_from, date_to] into months it covers whole (every day of theirs that has a cost row
    lies inside it, so the monthly rollup answers exactly) and the stretches of days left over."""
    months: list[date] = []
    month = date_from.replace(day=1)
    while month <= date_to:
        months.append(month)
        month = add_months(month, 1)
    edges = {months[0], months[-1]}  # the months the range may cover only in part
    span = (
        select(MonthlySpend.month, func.min(MonthlySpend.first_day), func.max(MonthlySpend.last_day))
        .where(MonthlySpend.month.in_(edges))
        .group_by(MonthlySpend.month)
    )
    stated = {month: (first, last) for month, first, last in session.execute(span)}
    whole: list[date] = []
    days: list[tuple[date, date]] = []
    for month in months:
        if month not in edges:
            whole.append(month)
        elif month not in stated:
            continue  # no day of this month has a cost row: nothing to read
        elif date_from <= stated[month][0] and stated[month][1] <= date_to:
            whole.append(month)
        else:
            days.append((max(date_from, month), min(date_to, month_end(month))))
    return whole, days


def _merged(parts: list[list[SpendRow]], by: list[str]) -> list[SpendRow]:
    """Rows of several periods summed exactly per key and currency, in the order the queries give."""
    totals: dict[tuple[Any, ...], tuple[dict[str, Any], Decimal, bool]] = {}
    for row in (r for part in parts for r in part):
        key = (*(row.keys[d] for d in by), row.currency)
        _, cost, estimated = totals.get(key, (row.keys, Decimal(0), False))
        totals[key] = (row.keys, cost + row.cost, estimated or row.estimated)
    ordered = sorted(totals.items(), key=lambda item: tuple(str(v) for v in item[0]))
    return [SpendRow(keys, cost, key[-1], estimated) for key, (keys, cost, estimated) in ordered]


def _grouped(dims: dict[str, ColumnElement[Any]], by: list[str], source: type[CostRow] | Rollup) -> Any:
    """SELECT the dimensions, currency, exact cost sum and "some day estimated" from a source of daily costs."""
    columns = [dims[d] for d in by]
    return (
        select(
            *columns,
            source.currency,
            money_sum(source.cost).label("cost"),
            func.max(func.cast(source.is_estimated, Integer())).label("estimated"),
        )
        .select_from(source)
        .group_by(*columns, source.currency)
        .order_by(*columns, source.currency)
    )


def _rows(session: Session, query: Any, by: list[str]) -> list[SpendRow]:
    return [
        SpendRow(
            keys={d: row._mapping[d] for d in by},
            cost=row.cost if isinstance(row.cost, Decimal) else Decimal(str(row.cost)),
            currency=row.currency,
            estimated=bool(row.estimated),
        )
        for row in session.execute(query)
    ]
