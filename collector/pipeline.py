"""One collection run: inventory, then costs chunk by chunk, then attribution, all recorded.

Each cost chunk (one subscription, one month) is fetched whole and then written in one transaction:
its rows upserted by natural key and the rows Azure no longer states for that stretch removed. So a
crash or a throttled API leaves every chunk either as it was or as Azure now says, and a rerun gives
the same totals. One failing subscription never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, delete, distinct, func, select, update
from sqlalchemy.orm import Session

from collector import attribution
from collector.azure.arm import AzureCallError, azure_errors
from collector.azure.clients import AzureClients
from collector.azure.cost_query import query_pages
from collector.db.models import (
    COST_ROW_KEY,
    Base,
    CollectionRun,
    CostRow,
    Deployment,
    MarketplaceSubscription,
    ResourceAttribution,
    SaasResource,
    ScopeRun,
    Subscription,
    Workspace,
)
from collector.db.upsert import upsert
from collector.settings import Settings, default_window_start
from collector.sources import costs, inventory

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class RunSummary:
    run_id: int
    status: str
    window_from: date
    window_to: date
    scopes: int = 0
    failures: list[str] = field(default_factory=list)
    rows_written: int = 0
    rows_removed: int = 0
    rows_rejected: int = 0
    qpu_used: int = 0
    api_calls: int = 0
    throttled: int = 0
    seconds: float = 0.0
    unattributed: list[tuple[str, str]] = field(default_factory=list)


def utcnow() -> datetime:
    return datetime.now(UTC)


def collect(
    settings: Settings,
    engine: Engine,
    *,
    since: date | None = None,
    until: date | None = None,
    today: date | None = None,
    clients: AzureClients | None = None,
    progress: Progress = lambda _msg: None,
) -> RunSummary:
    """Collect inventory and costs for [since, until] (default: the restatement window up to today)."""
    today = today or utcnow().date()
    since = since or default_window_start(today, settings.costs.final_after_day)
    until = until or today
    if since > until:
        raise ValueError(f"--since {since} is after --until {until}")
    started = utcnow()
    with Session(engine) as session, session.begin():
        run = CollectionRun(kind="costs", status="running", started_at=started, window_from=since, window_to=until)
        session.add(run)
        session.flush()
        run_id = run.id
    summary = RunSummary(run_id=run_id, status="running", window_from=since, window_to=until)
    own_clients = clients is None
    clients = clients or AzureClients(settings)
    try:
        _run(settings, engine, clients, summary, today, progress)
    except Exception as exc:  # the run record must say what happened, whatever it was
        summary.failures.append(f"run: {exc}")
        summary.status = "failed"
        _finish(engine, summary, clients, started, error=str(exc))
        raise
    finally:
        if own_clients:
            clients.close()
    if summary.status == "running":
        failed = len(summary.failures)
        summary.status = "succeeded" if not failed else "failed" if failed >= summary.scopes else "partial"
    _finish(engine, summary, clients, started)
    return summary


def _run(
    settings: Settings,
    engine: Engine,
    clients: AzureClients,
    summary: RunSummary,
    today: date,
    progress: Progress,
) -> None:
    subscription_ids = _subscriptions(settings, engine, clients, summary, progress)
    for subscription_id in subscription_ids:
        _scope(
            engine,
            summary,
            f"inventory /subscriptions/{subscription_id}",
            partial(_inventory, engine, clients, subscription_id),
            progress,
        )
    chunks = [
        chunk
        for sid in subscription_ids
        for chunk in costs.month_chunks(f"/subscriptions/{sid}", sid, summary.window_from, summary.window_to)
    ]
    failed_scopes: set[str] = set()
    for number, chunk in enumerate(chunks, 1):
        if chunk.scope in failed_scopes:
            continue  # the scope failed this run: its other months would fail alike
        label = f"costs {chunk.scope} {chunk.first}..{chunk.last}"
        ok = _scope(
            engine,
            summary,
            label,
            partial(_cost_chunk, engine, clients, settings, summary, chunk, today),
            progress,
            f"[{number}/{len(chunks)}] ",
        )
        if not ok:
            failed_scopes.add(chunk.scope)
    refresh_attribution(engine, settings)
    finalize_closed_months(engine, settings, today)
    summary.unattributed = unattributed(engine)


def _subscriptions(
    settings: Settings, engine: Engine, clients: AzureClients, summary: RunSummary, progress: Progress
) -> list[str]:
    """The configured subscriptions, else every one the identity can list (and record their names)."""
    try:
        with azure_errors("list subscriptions"):
            listed = [
                {
                    "subscription_id": (s.subscription_id or "").lower(),
                    "display_name": s.display_name or "",
                    "state": str(getattr(s.state, "value", s.state) or ""),
                    "tenant_id": s.tenant_id or "",
                }
                for s in clients.subscriptions.subscriptions.list()
                if s.subscription_id
            ]
    except AzureCallError as exc:
        if not settings.subscriptions:
            raise
        log.warning("could not list subscriptions (%s); using the configured ones", exc)
        listed = []
    _upsert_inventory(engine, Subscription, listed, ("subscription_id",))
    chosen = settings.subscriptions or [s["subscription_id"] for s in listed if s["state"] in ("Enabled", "")]
    if not chosen:
        raise AzureCallError(
            "the identity can list no enabled subscription: set COSTWATCH_SUBSCRIPTIONS or grant it Reader"
        )
    progress(f"{len(chosen)} subscription(s): {', '.join(chosen)}")
    return chosen


def _inventory(engine: Engine, clients: AzureClients, subscription_id: str) -> int:
    workspaces = list(inventory.workspaces(clients, subscription_id))
    saas = list(inventory.saas_resources(clients, subscription_id))
    offers: list[dict[str, Any]] = []
    endpoints: list[dict[str, Any]] = []
    for workspace in workspaces:
        if workspace["kind"].lower() == "project":
            offers += inventory.marketplace_subscriptions(clients, workspace["resource_id"])
            endpoints += inventory.serverless_endpoints(clients, workspace["resource_id"])
    with Session(engine) as session, session.begin():
        for table, rows in (
            (Workspace, workspaces),
            (SaasResource, saas),
            (MarketplaceSubscription, offers),
            (Deployment, endpoints),
        ):
            _upsert_inventory(session, table, rows, ("resource_id",))
    return len(workspaces) + len(saas) + len(offers) + len(endpoints)


def _upsert_inventory(
    bind: Engine | Session, table: type[Base], rows: list[dict[str, Any]], key: tuple[str, ...]
) -> None:
    now = utcnow()
    stamped = [{**row, "first_seen": now, "last_seen": now} for row in rows]
    if isinstance(bind, Session):
        upsert(bind, table, stamped, key, keep=("first_seen",))
        return
    with Session(bind) as session, session.begin():
        upsert(session, table, stamped, key, keep=("first_seen",))


def _cost_chunk(
    engine: Engine,
    clients: AzureClients,
    settings: Settings,
    summary: RunSummary,
    chunk: costs.Chunk,
    today: date,
) -> int:
    what = f"cost query on {chunk.scope} for {chunk.first}..{chunk.last}"
    qpu_before = clients.qpu.consumed
    pages = query_pages(clients.cost_management, chunk.scope, costs.query_body(chunk, settings.costs))
    parsed = costs.parse_pages(pages, chunk, settings.costs, today, what)
    now = utcnow()
    rows = [{**row, "run_id": summary.run_id, "updated_at": now} for row in parsed.rows.values()]
    with Session(engine) as session, session.begin():
        upsert(session, CostRow, rows, COST_ROW_KEY)
        removed = 0
        if rows and not parsed.rejected:
            # Rows of this stretch that Azure no longer states were restated away: remove them.
            # (Not when a row was rejected: its stored figure is kept rather than lost.)
            result = session.execute(
                delete(CostRow).where(
                    CostRow.subscription_id == chunk.subscription_id,
                    CostRow.usage_date.between(chunk.first, chunk.last),
                    CostRow.cost_type == settings.costs.cost_type,
                    CostRow.run_id != summary.run_id,
                )
            )
            removed = cast(CursorResult[Any], result).rowcount
        elif _stored_rows(session, chunk, settings):
            # An empty answer where rows are stored is more likely a glitch than a refund of everything.
            log.warning("%s: Azure returned no rows where the store has some; kept them", what)
    summary.rows_written += len(rows)
    summary.rows_removed += removed
    summary.rows_rejected += parsed.rejected
    if parsed.rejected:
        log.warning("%s: %d row(s) rejected: %s", what, parsed.rejected, costs.summarize_rejections(parsed))
    summary.qpu_used += clients.qpu.consumed - qpu_before
    return len(rows)


def _stored_rows(session: Session, chunk: costs.Chunk, settings: Settings) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(CostRow)
            .where(
                CostRow.subscription_id == chunk.subscription_id,
                CostRow.usage_date.between(chunk.first, chunk.last),
                CostRow.cost_type == settings.costs.cost_type,
            )
        )
        or 0
    )


def _scope(
    engine: Engine,
    summary: RunSummary,
    scope: str,
    work: Callable[[], int],
    progress: Progress,
    prefix: str = "",
) -> bool:
    """Run one scope's work and record its outcome; a failure is recorded, logged and contained."""
    summary.scopes += 1
    started = utcnow()
    before = (summary.rows_written, summary.rows_removed, summary.rows_rejected, summary.qpu_used)
    status, error, count = "succeeded", None, 0
    try:
        count = work()
    except AzureCallError as exc:
        status, error = "failed", str(exc)
        summary.failures.append(f"{scope}: {exc}")
        log.error("%s failed: %s", scope, exc)
    with Session(engine) as session, session.begin():
        session.add(
            ScopeRun(
                run_id=summary.run_id,
                scope=scope,
                status=status,
                started_at=started,
                finished_at=utcnow(),
                rows_written=summary.rows_written - before[0],
                rows_removed=summary.rows_removed - before[1],
                rows_rejected=summary.rows_rejected - before[2],
                qpu_used=summary.qpu_used - before[3],
                error=error,
            )
        )
    progress(f"{prefix}{scope}: " + (f"{count} rows" if status == "succeeded" else f"FAILED: {error}"))
    return status == "succeeded"


def refresh_attribution(engine: Engine, settings: Settings) -> None:
    """Recompute every resource's project and model from the inventory and the settings."""
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
        now = utcnow()
        rows = [{**vars(a), "updated_at": now} for a in results]
        upsert(session, ResourceAttribution, rows, ("resource_id",))
        session.execute(delete(ResourceAttribution).where(ResourceAttribution.updated_at != now))


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


def _finish(
    engine: Engine, summary: RunSummary, clients: AzureClients, started: datetime, error: str | None = None
) -> None:
    summary.api_calls = clients.qpu.calls
    summary.throttled = clients.qpu.throttled
    summary.seconds = (utcnow() - started).total_seconds()
    with Session(engine) as session, session.begin():
        run = session.get(CollectionRun, summary.run_id)
        assert run is not None
        run.status = summary.status
        run.finished_at = utcnow()
        run.scopes_total = summary.scopes
        run.scopes_failed = len(summary.failures)
        run.rows_written = summary.rows_written
        run.rows_removed = summary.rows_removed
        run.rows_rejected = summary.rows_rejected
        run.qpu_used = summary.qpu_used
        run.api_calls = summary.api_calls
        run.throttled = summary.throttled
        run.error = error or ("\n".join(summary.failures) or None)
