"""Quota as snapshots: VM cores (Machine Learning and Compute usages) and Foundry model capacity
(Cognitive Services usages: "OpenAI.GlobalStandard.gpt-4o", in thousands of TPM, or PTUs, against the
region's limit per model and deployment type) per subscription and region.

VM-core regions are those where the tenant has workspaces (in any subscription), Foundry regions
those where it has Foundry resources; both plus `[quota] extra_regions`.
Each run stores one time-stamped snapshot per (subscription, region, provider, VM family);
`limit = -1` means unlimited. What Azure answers is parsed in collector/sources/quota.py.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from functools import partial

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from collector.azure.clients import AzureClients
from collector.db.models import FoundryAccount, QuotaSnapshot, Workspace
from collector.db.upsert import upsert
from collector.foundry_models import MODEL_KINDS
from collector.jobs.inventory import discover_subscriptions
from collector.runs import Progress, Run, RunSummary, quiet, run_job, utcnow
from collector.settings import Settings
from collector.sources.quota import (
    API_VERSIONS,
    COMPUTE_PROVIDER,
    DATASET,
    FOUNDRY_PROVIDER,
    ML_PROVIDER,
    region,
    usages,
)

log = logging.getLogger(__name__)


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
        upsert(session, QuotaSnapshot, rows, DATASET.key)
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

    return run_job(engine, settings, DATASET.job, body, clients=clients, progress=progress)
