"""Cost rows as stored, for the figures that need them row by row: the span of days held, one
resource's rows (the drill-down under every total), why a resource has no project, and what an
instance-hour of managed compute costs on the tenant's own bill."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from collector.db.models import CostRow, DailyTotal, ResourceAttribution
from collector.db.types import money_sum


def data_span(session: Session) -> tuple[date | None, date | None]:
    """First and last day with cost data (from the daily totals: a small table, where both are cheap)."""
    first, last = session.execute(select(func.min(DailyTotal.usage_date), func.max(DailyTotal.usage_date))).one()
    return first, last


def cost_rows(
    session: Session, resource: str, date_from: date, date_to: date, projects: Collection[str] | None = None
) -> list[Row[Any]]:
    """The stored rows of one resource (as Azure last stated them) with its project; only those of
    `projects` (lower-case names) when given."""
    query = (
        select(
            CostRow.usage_date,
            CostRow.meter,
            CostRow.meter_category,
            CostRow.meter_subcategory,
            CostRow.charge_type,
            CostRow.quantity,
            CostRow.cost,
            CostRow.currency,
            CostRow.is_estimated,
            CostRow.run_id,
            ResourceAttribution.project,
        )
        .outerjoin(ResourceAttribution, ResourceAttribution.resource_id == CostRow.resource_id)
        .where(CostRow.resource_id == resource.lower(), CostRow.usage_date.between(date_from, date_to))
        .order_by(CostRow.usage_date, CostRow.meter, CostRow.charge_type)
    )
    if projects is not None:
        query = query.where(func.lower(ResourceAttribution.project).in_(projects))
    return list(session.execute(query))


def attribution_reasons(session: Session, resource_ids: Collection[str]) -> dict[str, tuple[str, str]]:
    """resource ID -> (the attribution rule that decided it, why)."""
    query = select(ResourceAttribution).where(ResourceAttribution.resource_id.in_(sorted(resource_ids)))
    return {a.resource_id: (a.rule, a.detail) for a in session.scalars(query)}


def vm_hours(session: Session, date_from: date, date_to: date) -> list[tuple[str, str, str, Decimal, Decimal, int]]:
    """(managed resource, its project, currency, cost, hours, days) of Virtual Machines meters."""
    query = (
        select(
            CostRow.resource_id,
            CostRow.currency,
            money_sum(CostRow.cost).label("cost"),
            money_sum(CostRow.quantity).label("hours"),
            func.count(func.distinct(CostRow.usage_date)).label("days"),
            ResourceAttribution.project,
        )
        .join(ResourceAttribution, ResourceAttribution.resource_id == CostRow.resource_id)
        .where(
            ResourceAttribution.spend_kind == "managed_compute",
            CostRow.meter_category == "Virtual Machines",
            CostRow.usage_date.between(date_from, date_to),
        )
        .group_by(CostRow.resource_id, CostRow.currency, ResourceAttribution.project)
    )
    return [
        (r.resource_id, r.project or "", r.currency, _decimal(r.cost), _decimal(r.hours), int(r.days))
        for r in session.execute(query)
    ]


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def last_cost_day(session: Session, since: date | None = None) -> date | None:
    """The last day with cost rows (on or after `since`, when given)."""
    query = select(func.max(CostRow.usage_date))
    if since is not None:
        query = query.where(CostRow.usage_date >= since)
    return session.scalar(query)
