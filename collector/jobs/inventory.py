"""Keep the inventory current and its history: every appearance, disappearance and status change of a
SaaS resource, marketplace subscription, Foundry resource or deployment (and a Foundry deployment's
new capacity, type or model version) becomes an `inventory_events` row.

Rows are never deleted: a resource that is gone gets `removed_at` (its past costs still need it), and
gets it back cleared if it reappears. A subscription's first sync is the baseline and records no
'added' events, so alerts are not flooded with everything that already existed.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, cast

from sqlalchemy import Engine, Table, insert, select, update
from sqlalchemy.orm import Session

from collector.azure.arm import AzureCallError, azure_errors
from collector.azure.clients import AzureClients
from collector.db.models import (
    PROJECT_KINDS,
    Base,
    Deployment,
    FoundryAccount,
    FoundryProject,
    InventoryEvent,
    MarketplaceSubscription,
    SaasResource,
    Subscription,
    Workspace,
    WorkspaceConnection,
)
from collector.db.upsert import upsert
from collector.foundry_models import is_model_account
from collector.runs import Progress, Run, RunSummary, quiet, run_job, utcnow
from collector.settings import Settings
from collector.sources import foundry, inventory

log = logging.getLogger(__name__)

# Per table: the fields whose changes are events.
TRACKED: dict[type[Base], tuple[str, ...]] = {
    Workspace: (),
    SaasResource: ("status",),
    MarketplaceSubscription: ("status",),
    FoundryAccount: ("provisioning_state",),
    FoundryProject: (),
    Deployment: ("provisioning_state", "endpoint_state", "instance_count", "capacity", "sku_name", "model_version"),
    WorkspaceConnection: ("account_id",),
}
# The Foundry columns of a deployment, as a serverless or managed one has them.
_NOT_FOUNDRY = {
    "model_version": "",
    "sku_name": "",
    "capacity": None,
    "tokens_per_minute": None,
    "requests_per_minute": None,
}


def discover_subscriptions(run: Run, settings: Settings) -> list[str]:
    """The configured subscriptions, else every enabled one the identity can list (names are recorded)."""
    try:
        with azure_errors("list subscriptions"):
            listed: list[dict[str, Any]] = [
                {
                    "subscription_id": (s.subscription_id or "").lower(),
                    "display_name": s.display_name or "",
                    "state": str(getattr(s.state, "value", s.state) or ""),
                    "tenant_id": s.tenant_id or "",
                    "removed_at": None,
                }
                for s in run.clients.subscriptions.subscriptions.list()
                if s.subscription_id
            ]
    except AzureCallError as exc:
        if not settings.subscriptions:
            raise
        log.warning("could not list subscriptions (%s); using the configured ones", exc)
        listed = []
    with Session(run.engine) as session, session.begin():
        _stamp_upsert(session, Subscription, listed, ("subscription_id",))
    chosen = settings.subscriptions or [s["subscription_id"] for s in listed if s["state"] in ("Enabled", "")]
    if not chosen:
        raise AzureCallError(
            "the identity can list no enabled subscription: set COSTWATCH_SUBSCRIPTIONS or grant it Reader"
        )
    run.progress(f"{len(chosen)} subscription(s): {', '.join(chosen)}")
    return chosen


def sync_subscription(run: Run, subscription_id: str) -> int:
    """Fetch one subscription's AI inventory, then store it and its changes in one transaction."""
    clients = run.clients
    fetched: dict[type[Base], list[dict[str, Any]]] = {
        Workspace: list(inventory.workspaces(clients, subscription_id)),
        SaasResource: list(inventory.saas_resources(clients, subscription_id)),
        FoundryAccount: list(foundry.accounts(clients, subscription_id)),
        FoundryProject: [],
        MarketplaceSubscription: [],
        Deployment: [],
        WorkspaceConnection: [],
    }
    projects = [w["resource_id"] for w in fetched[Workspace] if w["kind"].lower() in PROJECT_KINDS]
    accounts = [a["resource_id"] for a in fetched[FoundryAccount] if is_model_account(a["kind"])]
    with ThreadPoolExecutor(_PROJECTS_AT_ONCE, thread_name_prefix="costwatch-inventory") as pool:
        for offers, deployments in pool.map(partial(_project_inventory, clients), projects):  # in order
            fetched[MarketplaceSubscription] += offers
            fetched[Deployment] += [{**_NOT_FOUNDRY, **d} for d in deployments]
        for account_projects, deployments in pool.map(partial(_account_inventory, clients), accounts):
            fetched[FoundryProject] += account_projects
            fetched[Deployment] += deployments
        # Hubs' and projects' connections: a hub project may use a model resource it does not hold.
        workspaces = [w["resource_id"] for w in fetched[Workspace]]
        for found in pool.map(partial(inventory.connections, clients), workspaces):
            fetched[WorkspaceConnection] += found
    prefix = f"/subscriptions/{subscription_id}/"
    now = utcnow()
    with Session(run.engine) as session, session.begin():
        baseline = any(
            session.scalar(select(table.resource_id).where(table.resource_id.startswith(prefix)).limit(1))
            for table in (Workspace, FoundryAccount)
        )
        for model, rows in fetched.items():
            _record_changes(session, run.id, model, rows, prefix, now, first_sync=not baseline)
            _stamp_upsert(session, model, [{**r, "removed_at": None} for r in rows], inventory.DATASET.key)
    return sum(len(rows) for rows in fetched.values())


# Each project takes four ARM lists of its own (a hub one). ARM answers each in 100 ms or more, so a hub of hundreds
# of projects is listed a few projects at a time; ARM's read limits (a bucket of 250, refilled at 25 a
# second) take that, and a 429 is waited out by the SDK's retry policy.
_PROJECTS_AT_ONCE = 4


def _project_inventory(clients: AzureClients, workspace_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A project's marketplace subscriptions, and its deployments (serverless and managed)."""
    deployments = [
        *inventory.serverless_endpoints(clients, workspace_id),
        *inventory.online_deployments(clients, workspace_id),
    ]
    return list(inventory.marketplace_subscriptions(clients, workspace_id)), deployments


def _account_inventory(clients: AzureClients, account_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A Foundry resource's projects (an Azure OpenAI resource has none) and its deployments."""
    return list(foundry.projects(clients, account_id)), list(foundry.deployments(clients, account_id))


def _record_changes(
    session: Session,
    run_id: int,
    model: type[Base],
    rows: list[dict[str, Any]],
    prefix: str,
    now: Any,
    first_sync: bool,
) -> None:
    table = cast(Table, model.__table__)
    fields = TRACKED[model]
    columns = [table.c.resource_id, table.c.removed_at, *(table.c[f] for f in fields)]
    stored = {r.resource_id: r for r in session.execute(select(*columns).where(table.c.resource_id.startswith(prefix)))}
    seen = {row["resource_id"] for row in rows}
    events: list[dict[str, Any]] = []

    def event(resource_id: str, kind: str, field: str = "", old: Any = None, new: Any = None) -> None:
        events.append(
            {
                "observed_at": now,
                "run_id": run_id,
                "resource_type": table.name,
                "resource_id": resource_id,
                "kind": kind,
                "field": field,
                "old_value": None if old is None else str(old),
                "new_value": None if new is None else str(new),
            }
        )

    for row in rows:
        before = stored.get(row["resource_id"])
        if before is None or before.removed_at is not None:
            if not first_sync or before is not None:
                event(row["resource_id"], "added", new=row.get(fields[0]) if fields else None)
            continue
        for field in fields:
            if getattr(before, field) != row[field]:
                event(row["resource_id"], "changed", field, getattr(before, field), row[field])
    gone = [rid for rid, r in stored.items() if rid not in seen and r.removed_at is None]
    for resource_id in gone:
        event(resource_id, "removed", old=getattr(stored[resource_id], fields[0]) if fields else None)
    if gone:
        session.execute(update(table).where(table.c.resource_id.in_(gone)).values(removed_at=now))
    if events:
        session.execute(insert(InventoryEvent), events)
        for e in events:
            log.info(
                "inventory: %s %s %s %s -> %s", e["resource_id"], e["kind"], e["field"], e["old_value"], e["new_value"]
            )


def _stamp_upsert(session: Session, model: type[Base], rows: list[dict[str, Any]], key: tuple[str, ...]) -> None:
    now = utcnow()
    upsert(session, model, [{**row, "first_seen": now, "last_seen": now} for row in rows], key, keep=("first_seen",))


def run_inventory(
    settings: Settings, engine: Engine, *, clients: AzureClients | None = None, progress: Progress = quiet
) -> RunSummary:
    """The inventory job on its own (the cost job also syncs inventory first, for attribution)."""

    def body(run: Run) -> None:
        for subscription_id in discover_subscriptions(run, settings):
            run.scope(f"inventory /subscriptions/{subscription_id}", partial(sync_subscription, run, subscription_id))

    return run_job(engine, settings, inventory.DATASET.job, body, clients=clients, progress=progress)
