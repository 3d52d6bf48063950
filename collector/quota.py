"""Quota as snapshots: VM cores (Machine Learning and Compute usages) and Foundry model capacity
(Cognitive Services usages: "OpenAI.GlobalStandard.gpt-4o", in thousands of TPM, or PTUs, against the
region's limit per model and deployment type) per subscription and region.

VM-core regions are those where the tenant has workspaces (in any subscription), Foundry regions
those where it has Foundry resources; both plus `[quota] extra_regions`.
Each run stores one time-stamped snapshot per (subscription, region, provider, VM family);
`limit = -1` means unlimited.

Azure ML's list repeats each family's `name.value` at three levels: the subscription's line (type
`.../vmFamily/usages`, id `.../locations/<loc>/usages/<name>`) is the quota; lines of type
`.../workspaces/usages` and `.../workspaces/computes/usages` (Azure also spells them `workspace/...`)
are that quota's breakdown by workspace and compute, with the same limit. Only the subscription's line
is the family's figure: taking a workspace's share as it would understate the quota
(ml/spec_2025-09-01_Usage_list.json: the subscription's 12 of 24 NC cores would read 6 of 24).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import Engine, and_, func, select
from sqlalchemy.orm import Session

from collector.azure.arm import list_all, url
from collector.azure.clients import AzureClients
from collector.db.models import FoundryAccount, QuotaSnapshot, Workspace
from collector.db.upsert import upsert
from collector.foundry_models import MODEL_KINDS
from collector.inventory_sync import discover_subscriptions
from collector.runs import Progress, Run, RunSummary, as_utc, execute, quiet, utcnow
from collector.settings import Settings

log = logging.getLogger(__name__)

ML_PROVIDER = "Microsoft.MachineLearningServices"
COMPUTE_PROVIDER = "Microsoft.Compute"
FOUNDRY_PROVIDER = "Microsoft.CognitiveServices"
API_VERSIONS = {ML_PROVIDER: "2025-09-01", COMPUTE_PROVIDER: "2025-04-01", FOUNDRY_PROVIDER: "2025-06-01"}
QUOTA_KEY = ("subscription_id", "location", "provider", "name", "taken_at")


def region(name: str) -> str:
    """'East US 2' -> 'eastus2', the form the usages API takes."""
    return name.replace(" ", "").lower()


def measure(provider: str, name: str) -> str:
    """What a usage line counts: VM cores, or for Foundry thousands of TPM, PTUs or accounts."""
    if provider != FOUNDRY_PROVIDER:
        return "cores"
    if name == "AccountCount":
        return "accounts"
    return "PTUs" if "provisioned" in name.lower() else "thousands of TPM"


def parse_usage(item: dict[str, Any], provider: str) -> dict[str, Any] | None:
    name = item.get("name") if isinstance(item.get("name"), dict) else {}
    current, limit = item.get("currentValue"), item.get("limit")
    if not isinstance(name, dict) or not name.get("value") or not _is_int(current) or not _is_int(limit):
        return None
    assert current is not None and limit is not None
    return {
        "provider": provider,
        "name": str(name["value"]),
        "localized_name": str(name.get("localizedValue") or ""),
        "current_value": int(current),
        "limit_value": int(limit),
        "unit": str(item.get("unit") or ""),
    }


def _is_int(value: Any) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool) and value == int(value)


def is_breakdown(item: dict[str, Any]) -> bool:
    """A workspace's or compute's share of a subscription's quota, not a quota of its own."""
    kind, item_id = str(item.get("type") or "").lower(), str(item.get("id") or "").lower()
    return "/workspace" in kind or "/workspaces/" in item_id


def usages(
    clients: AzureClients, subscription_id: str, location: str, providers: Iterable[str]
) -> Iterator[dict[str, Any]]:
    """The subscription-level usages of the providers in one region."""
    for provider in providers:
        api_version = API_VERSIONS[provider]
        path = f"/subscriptions/{subscription_id}/providers/{provider}/locations/{location}/usages"
        what = f"list {provider} usages in {subscription_id}/{location}"
        items = list_all(clients.resources, url(clients.settings.arm_endpoint, path, api_version), what)
        yield from subscription_usages(items, provider, what)


def subscription_usages(items: Iterable[dict[str, Any]], provider: str, what: str) -> list[dict[str, Any]]:
    """One row per name from a usages list: the subscription's lines, without the breakdown."""
    seen: dict[str, dict[str, Any]] = {}
    breakdown = 0
    for item in items:
        if is_breakdown(item):
            breakdown += 1
            continue
        row = parse_usage(item, provider)
        if row is None:
            log.warning("%s: skipped an item without name.value, currentValue and limit as integers: %r", what, item)
            continue
        first = seen.setdefault(row["name"], row)
        if first is not row:
            # Two subscription-level lines for one name: keep the first, never write both nor let the
            # second overwrite it unseen.
            log.warning(
                "%s: expected one subscription-level line per name, got %r twice (%s of %s, then %s of %s); "
                "kept the first",
                what,
                row["name"],
                first["current_value"],
                first["limit_value"],
                row["current_value"],
                row["limit_value"],
            )
    if breakdown:
        log.debug("%s: left out %d workspace and compute lines, a breakdown of the quota", what, breakdown)
    return list(seen.values())


def watched_regions(engine: Engine, settings: Settings) -> dict[str, list[str]]:
    """Per provider, the regions whose usages matter: for VM cores every region where the tenant has
    workspaces, in every subscription (a team may deploy managed compute into any of them); for
    Foundry capacity every region where it has Foundry resources."""
    with Session(engine) as session:
        workspaces = session.scalars(select(Workspace.location).distinct().where(Workspace.removed_at.is_(None))).all()
        accounts = session.scalars(
            select(FoundryAccount.location)
            .distinct()
            .where(FoundryAccount.removed_at.is_(None), func.lower(FoundryAccount.kind).in_(MODEL_KINDS))
        ).all()

    def regions(found: Sequence[str]) -> list[str]:
        return sorted({region(r) for r in [*found, *settings.quota.extra_regions] if r})

    vm = regions(workspaces)
    return {ML_PROVIDER: vm, COMPUTE_PROVIDER: vm, FOUNDRY_PROVIDER: regions(accounts) if accounts else []}


def _snapshot(run: Run, regions: dict[str, list[str]], subscription_id: str, taken_at: datetime) -> int:
    rows = [
        {**usage, "subscription_id": subscription_id, "location": location, "taken_at": taken_at, "run_id": run.id}
        for location in sorted({r for found in regions.values() for r in found})
        for usage in usages(
            run.clients, subscription_id, location, [p for p in API_VERSIONS if location in regions.get(p, ())]
        )
    ]
    with Session(run.engine) as session, session.begin():
        upsert(session, QuotaSnapshot, rows, QUOTA_KEY)
    run.summary.rows_written += len(rows)
    return len(rows)


def run_quota(
    settings: Settings, engine: Engine, *, clients: AzureClients | None = None, progress: Progress = quiet
) -> RunSummary:
    taken_at = utcnow()

    def body(run: Run) -> None:
        subscriptions = discover_subscriptions(run, settings)
        regions = watched_regions(engine, settings)
        for subscription_id in subscriptions:
            run.scope(
                f"quota /subscriptions/{subscription_id}", partial(_snapshot, run, regions, subscription_id, taken_at)
            )

    return execute(engine, settings, "quota", body, clients=clients, progress=progress)


@dataclass(frozen=True)
class QuotaRow:
    subscription_id: str
    location: str
    provider: str
    name: str
    localized_name: str
    current: int
    limit: int
    unit: str
    as_of: datetime

    @property
    def percent(self) -> Decimal | None:
        """Usage as a percentage of the limit; None when unlimited (-1) or the limit is 0 and nothing is used."""
        if self.limit < 0 or (self.limit == 0 and self.current == 0):
            return None
        if self.limit == 0:
            return Decimal(100)
        return (Decimal(self.current) * 100 / Decimal(self.limit)).quantize(Decimal("0.1"))


def latest_quota(session: Session) -> list[QuotaRow]:
    """The newest snapshot of every (subscription, region, provider, name)."""
    key = (QuotaSnapshot.subscription_id, QuotaSnapshot.location, QuotaSnapshot.provider, QuotaSnapshot.name)
    newest = select(*key, func.max(QuotaSnapshot.taken_at).label("taken_at")).group_by(*key).subquery()
    query = (
        select(QuotaSnapshot)
        .join(
            newest,
            and_(*(column == newest.c[column.key] for column in key), QuotaSnapshot.taken_at == newest.c.taken_at),
        )
        .order_by(*key)
    )
    return [
        QuotaRow(
            q.subscription_id,
            q.location,
            q.provider,
            q.name,
            q.localized_name,
            q.current_value,
            q.limit_value,
            q.unit,
            as_utc(q.taken_at),
        )
        for q in session.scalars(query)
    ]
