"""The daily spend rollup (`daily_spend`): cost rows summed per day, subscription, project, model,
meter and currency, with the attribution applied. Pages and reports read it instead of scanning every
cost row (bench/README.md: a month of 500,000 rows took 0.5-0.9 s per read from the raw rows)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, Integer, delete, func, insert, select, text
from sqlalchemy.orm import Session

from collector.attribution import UNATTRIBUTED
from collector.db.models import CostRow, DailySpend, ResourceAttribution
from collector.db.session import transaction
from collector.db.types import money_sum


def rebuild(engine: Engine, date_from: date | None = None, date_to: date | None = None) -> None:
    """Recompute the rollup for [date_from, date_to] (all days when not given), in one transaction."""
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

    transaction(engine, write, "the daily spend rollup")
