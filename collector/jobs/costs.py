"""The cost job: inventory, attribution, then costs chunk by chunk, all recorded.

Each cost chunk (one subscription, one month) is fetched whole and then written in one transaction:
its rows upserted by natural key, the rows Azure no longer states for that stretch removed, and the
stretch's rollups recomputed. So a crash or a throttled API leaves every chunk, with its rollups,
either as it was or as Azure now says, and a rerun gives the same totals. One failing subscription
never stops the others.

The chunks are planned per subscription, or, with `[costs] scope`, queried a month at a time at the
billing account, billing profile or management group and split by subscription (wide_scope.py), with
what that scope cannot answer left to per-subscription chunks.
"""

from __future__ import annotations

import logging
from datetime import date
from functools import partial

from sqlalchemy import ColumnElement, Engine, func, select, update
from sqlalchemy.orm import Session

from collector import attribution, attribution_store, rollup
from collector.azure.clients import AzureClients
from collector.cost_chunks import FetchAhead
from collector.db.models import (
    CollectionRun,
    CostRow,
    ResourceAttribution,
)
from collector.jobs.inventory import discover_subscriptions, sync_subscription
from collector.periods import default_window_start, month_start
from collector.runs import Progress, Run, RunSummary, quiet, run_job, utcnow
from collector.settings import Settings
from collector.sources import costs
from collector.wide_scope import collect_wide

log = logging.getLogger(__name__)


def collect(
    settings: Settings,
    engine: Engine,
    *,
    since: date | None = None,
    until: date | None = None,
    today: date | None = None,
    clients: AzureClients | None = None,
    progress: Progress = quiet,
) -> RunSummary:
    """Collect inventory and costs for [since, until] (default: the restatement window up to today)."""
    today = today or utcnow().date()
    since = since or default_window_start(today, settings.costs.final_after_day)
    until = until or today
    if since > until:
        raise ValueError(f"--since {since} is after --until {until}")

    def body(run: Run) -> None:
        subscription_ids = discover_subscriptions(run, settings)
        for subscription_id in subscription_ids:
            run.scope(f"inventory /subscriptions/{subscription_id}", partial(sync_subscription, run, subscription_id))
        # Attributed before the chunks, which keep their own days' rollups as they are written.
        attributions, moved = attribution_store.refresh(engine, settings.attribution)
        if moved or rollup.missing(engine):  # a new tag or mapping moved history between projects
            rollup.rebuild(engine, patience=settings.database_retry_seconds)
        if settings.costs.scope:
            chunks = collect_wide(run, settings, attributions, subscription_ids, since, until, today)
        else:
            chunks = [
                chunk
                for sid in subscription_ids
                for chunk in costs.month_chunks(f"/subscriptions/{sid}", sid, since, until)
            ]
        failed_scopes: set[str] = set()
        with FetchAhead(run, settings, today, attributions) as ahead:
            for number, chunk in enumerate(chunks, 1):
                if chunk.scope in failed_scopes:
                    continue  # the scope failed this run: its other months would fail alike
                following = chunks[number] if number < len(chunks) else None
                # One scope per subscription (its months are chunks of it): that is what freshness is about.
                prefix = f"[{number}/{len(chunks)}] {chunk.first}..{chunk.last} "
                work = partial(ahead.cost_chunk, chunk, following)
                month = month_start(chunk.first)
                if not run.scope(f"costs {chunk.scope}", work, prefix, month=month, query_scope=chunk.scope):
                    failed_scopes.add(chunk.scope)
        catch_up_rollup(engine, settings, run.id, today)
        run.summary.unattributed = attributed(engine, ResourceAttribution.project == attribution.UNATTRIBUTED)
        run.summary.by_offer = attributed(engine, ResourceAttribution.rule == "offer-match")

    return run_job(engine, settings, costs.DATASET.job, body, clients=clients, progress=progress, window=(since, until))


def catch_up_rollup(engine: Engine, settings: Settings, run_id: int, today: date) -> None:
    """Each chunk keeps its own days' rollups; what is left to bring up to date: the days whose figures
    just became final (finalize_closed_months), and the days of rows written since the last successful
    cost run finished by a run other than this one (written outside a chunk's transaction)."""
    finalized = finalize_closed_months(engine, settings, today)
    with Session(engine) as session:
        last = session.scalar(
            select(func.max(CollectionRun.finished_at)).where(
                CollectionRun.kind == "costs", CollectionRun.status == "succeeded", CollectionRun.id != run_id
            )
        )
        others: tuple[date | None, date | None] = (None, None)
        if last is not None:
            others = (
                session.execute(
                    select(func.min(CostRow.usage_date), func.max(CostRow.usage_date)).where(
                        CostRow.updated_at >= last, CostRow.run_id != run_id
                    )
                )
                .one()
                ._tuple()
            )
    for first, last_day in (finalized, others):
        if first is not None and last_day is not None:
            rollup.rebuild(engine, first, last_day, patience=settings.database_retry_seconds)


def finalize_closed_months(engine: Engine, settings: Settings, today: date) -> tuple[date | None, date | None]:
    """Days before the restatement window belong to closed months: their figures are final now.
    Returns the first and last day of the rows it made final (None, None: none)."""
    boundary = default_window_start(today, settings.costs.final_after_day)
    estimated = (CostRow.is_estimated.is_(True), CostRow.usage_date < boundary)
    with Session(engine) as session, session.begin():
        days = session.execute(select(func.min(CostRow.usage_date), func.max(CostRow.usage_date)).where(*estimated))
        first, last = days.one()._tuple()
        if first is not None:  # the update reads only those days, by the usage_date index
            made_final = (*estimated, CostRow.usage_date.between(first, last))
            session.execute(update(CostRow).where(*made_final).values(is_estimated=False))
    return first, last


def attributed(engine: Engine, which: ColumnElement[bool]) -> list[tuple[str, str]]:
    """(resource ID, why) of the attributions `which` selects: the SaaS resources whose costs could not
    be given a project, or those given one by their offer (and which property gave the offer's ID)."""
    with Session(engine) as session:
        rows = session.execute(
            select(ResourceAttribution.resource_id, ResourceAttribution.detail)
            .where(which)
            .order_by(ResourceAttribution.resource_id)
        ).all()
    return [(r.resource_id, r.detail) for r in rows]
