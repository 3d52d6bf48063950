"""Spend grouped by any of project, model, meter, subscription, resource and day, per currency.

The one query behind `costwatch spend`; the dashboard and the reports read the same figures. Without
`resource` it reads the daily rollup (collector.rollup); with it, the cost rows themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Integer, func, or_, select
from sqlalchemy.orm import Session

from collector.attribution import UNATTRIBUTED
from collector.db.models import CostRow, DailySpend, ResourceAttribution
from collector.db.types import money_sum

AI_SPEND = ("marketplace", "managed_compute")


def _dimensions() -> dict[str, ColumnElement[Any]]:
    return {
        "project": func.coalesce(ResourceAttribution.project, UNATTRIBUTED).label("project"),
        "model": func.coalesce(ResourceAttribution.model, "").label("model"),
        "meter": CostRow.meter.label("meter"),
        "subscription": CostRow.subscription_id.label("subscription"),
        "resource": CostRow.resource_id.label("resource"),
        "day": CostRow.usage_date.label("day"),
        "spend_kind": func.coalesce(ResourceAttribution.spend_kind, "").label("spend_kind"),
    }


DIMENSIONS = tuple(_dimensions())


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
) -> list[SpendRow]:
    """Exact totals for [date_from, date_to] (inclusive) grouped by `by`, never adding two currencies."""
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown dimension(s) {unknown}; choose from {', '.join(DIMENSIONS)}")
    if "resource" not in by:
        return _from_rollup(session, date_from, date_to, by, include_other)
    query = _grouped(_dimensions(), by, CostRow).outerjoin(
        ResourceAttribution, ResourceAttribution.resource_id == CostRow.resource_id
    )
    query = query.where(CostRow.usage_date.between(date_from, date_to))
    if not include_other:
        # A resource not yet attributed (a run stopped before attribution) counts as unattributed AI
        # spend until the next run: shown, never silently left out.
        query = query.where(or_(ResourceAttribution.spend_kind.in_(AI_SPEND), ResourceAttribution.spend_kind.is_(None)))
    return _rows(session, query, by)


def _rollup_dimensions() -> dict[str, ColumnElement[Any]]:
    return {
        "project": DailySpend.project.label("project"),
        "model": DailySpend.model.label("model"),
        "meter": DailySpend.meter.label("meter"),
        "subscription": DailySpend.subscription_id.label("subscription"),
        "day": DailySpend.usage_date.label("day"),
        "spend_kind": DailySpend.spend_kind.label("spend_kind"),
    }


def _from_rollup(
    session: Session, date_from: date, date_to: date, by: list[str], include_other: bool
) -> list[SpendRow]:
    """The same figures from `daily_spend`, which the cost job keeps in step with the cost rows."""
    query = _grouped(_rollup_dimensions(), by, DailySpend).where(DailySpend.usage_date.between(date_from, date_to))
    if not include_other:
        query = query.where(DailySpend.spend_kind.in_([*AI_SPEND, ""]))  # '' = not yet attributed
    return _rows(session, query, by)


def _grouped(dims: dict[str, ColumnElement[Any]], by: list[str], source: type[CostRow] | type[DailySpend]) -> Any:
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
