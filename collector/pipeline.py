"""The cost job: inventory, then costs chunk by chunk, then attribution, all recorded.

Each cost chunk (one subscription, one month) is fetched whole and then written in one transaction:
its rows upserted by natural key and the rows Azure no longer states for that stretch removed. So a
crash or a throttled API leaves every chunk either as it was or as Azure now says, and a rerun gives
the same totals. One failing subscription never stops the others.

The chunks are planned per subscription, or, with `[costs] scope`, queried a month at a time at the
billing account, billing profile or management group and split by subscription (wide_scope.py), with
what that scope cannot answer left to per-subscription chunks.
"""

from __future__ import annotations

import logging
from datetime import date
from functools import partial

from sqlalchemy import Engine, delete, distinct, func, select, update
from sqlalchemy.orm import Session

from collector import attribution, rollup
from collector.azure.clients import AzureClients
from collector.cost_chunks import FetchAhead
from collector.db.models import (
    CollectionRun,
    CostRow,
    MarketplaceSubscription,
    ResourceAttribution,
    SaasResource,
    Workspace,
)
from collector.db.upsert import upsert
from collector.inventory_sync import discover_subscriptions, sync_subscription
from collector.runs import Progress, Run, RunSummary, execute, quiet, utcnow
from collector.settings import Settings, add_months, default_window_start, month_start
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
        if settings.costs.scope:
            chunks = collect_wide(run, settings, subscription_ids, since, until, today)
        else:
            chunks = [
                chunk
                for sid in subscription_ids
                for chunk in costs.month_chunks(f"/subscriptions/{sid}", sid, since, until)
            ]
        failed_scopes: set[str] = set()
        with FetchAhead(run, settings, today) as ahead:
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
        attribution_changed = refresh_attribution(engine, settings)
        finalize_closed_months(engine, settings, today)
        refresh_rollup(engine, settings, run.id, since, until, today, full=attribution_changed)
        run.summary.unattributed = unattributed(engine)

    return execute(engine, settings, "costs", body, clients=clients, progress=progress, window=(since, until))


def refresh_attribution(engine: Engine, settings: Settings) -> bool:
    """Recompute every resource's project and model from the inventory and the settings; True when a
    resource already attributed got another project, model or kind."""
    with Session(engine) as session, session.begin():
        projects = [
            attribution.Project(w.resource_id, w.name, w.subscription_id, w.resource_group)
            for w in session.scalars(select(Workspace).where(func.lower(Workspace.kind) == "project"))
        ]
        saas = [
            attribution.SaasInfo(s.resource_id, s.subscription_id, s.resource_group, s.name, s.offer, s.tags or {})
            for s in session.scalars(select(SaasResource))
        ]
        offers = [
            attribution.OfferSubscription(m.workspace_id, m.offer_id, m.model_id)
            for m in session.scalars(select(MarketplaceSubscription))
        ]
        resource_ids = session.scalars(select(distinct(CostRow.resource_id))).all()
        results = attribution.attribute(resource_ids, projects, saas, offers, settings.attribution)
        before = {
            r.resource_id: (r.project, r.model, r.spend_kind) for r in session.scalars(select(ResourceAttribution))
        }
        now = utcnow()
        upsert(session, ResourceAttribution, [{**vars(a), "updated_at": now} for a in results], ("resource_id",))
        session.execute(delete(ResourceAttribution).where(ResourceAttribution.updated_at != now))
        return any(
            a.resource_id in before and before[a.resource_id] != (a.project, a.model, a.spend_kind) for a in results
        )


def refresh_rollup(
    engine: Engine, settings: Settings, run_id: int, since: date, until: date, today: date, *, full: bool
) -> None:
    """Bring the spend rollups up to date: in full when attribution moved history between projects (or on
    the first run), else for every day written since the last successful cost run began (this run's
    window, and what an interrupted run left behind), plus the month whose days may just have become
    final."""
    with Session(engine) as session:
        last = session.scalar(
            select(func.max(CollectionRun.started_at)).where(
                CollectionRun.kind == "costs", CollectionRun.status == "succeeded", CollectionRun.id != run_id
            )
        )
        written: tuple[date | None, date | None] = (None, None)
        if last is not None:
            written = (
                session.execute(
                    select(func.min(CostRow.usage_date), func.max(CostRow.usage_date)).where(CostRow.updated_at >= last)
                )
                .one()
                ._tuple()
            )
    if full or last is None:
        rollup.rebuild(engine)
        return
    finalized = add_months(default_window_start(today, settings.costs.final_after_day), -1)
    first = min(d for d in (since, finalized, written[0]) if d is not None)
    last_day = max(d for d in (until, written[1]) if d is not None)
    rollup.rebuild(engine, first, last_day)


def finalize_closed_months(engine: Engine, settings: Settings, today: date) -> None:
    """Days before the restatement window belong to closed months: their figures are final now."""
    boundary = default_window_start(today, settings.costs.final_after_day)
    with Session(engine) as session, session.begin():
        session.execute(
            update(CostRow)
            .where(CostRow.is_estimated.is_(True), CostRow.usage_date < boundary)
            .values(is_estimated=False)
        )


def unattributed(engine: Engine) -> list[tuple[str, str]]:
    """Data-quality findings: SaaS resources whose costs could not be given a project, and why."""
    with Session(engine) as session:
        rows = session.execute(
            select(ResourceAttribution.resource_id, ResourceAttribution.detail)
            .where(ResourceAttribution.project == attribution.UNATTRIBUTED)
            .order_by(ResourceAttribution.resource_id)
        ).all()
    return [(r.resource_id, r.detail) for r in rows]
