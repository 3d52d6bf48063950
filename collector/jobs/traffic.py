"""Rate-limit headroom: each serverless and Foundry deployment's tokens and requests per minute (Azure
Monitor), against its limits: a serverless deployment's from `[limits]`, a Foundry deployment's own
(from its capacity and rateLimits; a provisioned one has a request limit only). Foundry deployments
are read through their Foundry resource's metrics split by ModelDeploymentName.

Minutes are kept for `[metrics] retention_days` and rolled up hourly (sums, peak TPM/RPM, minutes near
and at the limit) as they arrive, so peaks stay available after the minutes expire. Each run re-pulls
the last `overlap_minutes`, since Azure Monitor fills minutes in late; rows are upserted by
(deployment, minute), so nothing is counted twice.

The token metrics are documented for Microsoft.CognitiveServices accounts, and no supported-metrics
page lists workspaces/serverlessEndpoints: a tenant may answer a deployment's call with 400 "Failed to
find metric configuration". That is recorded once on the deployment ("no traffic metrics from Azure
Monitor"), not failed every run; the deployment is asked again every `recheck_unavailable_hours`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from collector.attribution import model_name
from collector.azure.arm import AzureCallError
from collector.azure.clients import AzureClients
from collector.db.models import (
    Deployment,
    FoundryAccount,
    TrafficHour,
    TrafficMinute,
    Workspace,
)
from collector.db.upsert import upsert
from collector.foundry_models import is_provisioned
from collector.periods import floor_hour, floor_minute
from collector.runs import Progress, Run, RunSummary, as_utc, quiet, run_job, utcnow
from collector.settings import LimitSettings, Settings
from collector.sources.traffic import (
    DATASET,
    FIELDS,
    FULL_UTILIZATION,
    NO_METRICS,
    MeteredDeployment,
    Minutes,
    Utilization,
    fetch_batches,
    fetch_minutes,
    fetch_utilization,
    metrics_unsupported,
)

log = logging.getLogger(__name__)


def _window(
    session: Session, settings: Settings, deployment_id: str, now: datetime
) -> tuple[datetime, datetime] | None:
    """What the deployment's next pull covers: from its last stored minute less the overlap (or the
    first lookback) to now. None while Azure Monitor is known to have no metrics for it and its
    recheck is not due."""
    deployment = session.get(Deployment, deployment_id)
    if deployment is not None and deployment.metrics_unavailable_since is not None:
        checked = deployment.metrics_checked_at
        recheck = timedelta(hours=settings.metrics.recheck_unavailable_hours)
        if checked is not None and now - as_utc(checked) < recheck:
            return None
    last = session.scalar(select(func.max(TrafficMinute.minute)).where(TrafficMinute.deployment_id == deployment_id))
    end = floor_minute(now)
    if last is None:
        return end - timedelta(hours=settings.metrics.first_lookback_hours), end
    return min(as_utc(last) - timedelta(minutes=settings.metrics.overlap_minutes), end), end


def _collect_deployment(
    run: Run,
    settings: Settings,
    deployment: MeteredDeployment,
    window: tuple[datetime, datetime] | None,
    batched: Minutes | AzureCallError | None,
    now: datetime,
    utilization: Utilization | AzureCallError | None = None,
) -> int:
    """Store one deployment's minutes: those of its batch (`batched`), else from its own call, with a
    provisioned deployment's utilization (a failed utilization call fails the scope: its minutes are
    re-pulled next run rather than stored without it)."""
    deployment_id = deployment.resource_id
    if window is None:
        return 0  # known to have no metrics: asked again once the recheck is due, not every run
    start, end = window
    with Session(run.engine) as session:
        found = session.get(Deployment, deployment_id)
        unavailable = found is not None and found.metrics_unavailable_since is not None
    try:
        if isinstance(batched, AzureCallError):
            raise batched
        minutes = batched if batched is not None else fetch_minutes(run, settings, deployment_id, start, end)
    except AzureCallError as exc:
        if not metrics_unsupported(exc):
            raise
        _mark_unavailable(run, deployment_id, str(exc), now, first=not unavailable)
        return 0
    used = _usable(utilization, deployment_id, settings)
    # A batch spans its members' widest window.
    ordered = sorted(m for m in {*minutes, *used} if m >= start)
    idle = dict.fromkeys(FIELDS, 0)  # a minute Azure states utilization for but no traffic
    # Minutes without a stated utilization leave a stored one as it is.
    rows = [{"deployment_id": deployment_id, "minute": m, **minutes.get(m, idle)} for m in ordered if m not in used]
    stated = [
        {"deployment_id": deployment_id, "minute": m, **minutes.get(m, idle), "utilization_bp": used[m]}
        for m in ordered
        if m in used
    ]
    with Session(run.engine) as session, session.begin():
        if unavailable:
            log.info("metrics of %s: Azure Monitor answers again; traffic is collected", deployment_id)
            _update(session, deployment_id, since=None, reason=None, checked=None)
        upsert(session, TrafficMinute, rows, DATASET.key)
        upsert(session, TrafficMinute, stated, DATASET.key)
        if ordered:
            roll_up(session, deployment, floor_hour(ordered[0]), ordered[-1], settings.limits.near_fraction)
    run.summary.rows_written += len(rows) + len(stated)
    return len(rows) + len(stated)


def _usable(utilization: Utilization | AzureCallError | None, deployment_id: str, settings: Settings) -> Utilization:
    """A provisioned deployment's utilization minutes; a failed call raises (the scope is retried next
    run), unless Azure Monitor has no such metric for it: then its traffic is stored without."""
    if not isinstance(utilization, AzureCallError):
        return utilization or {}
    if not metrics_unsupported(utilization):
        raise utilization
    log.warning(
        '%s: no %s from Azure Monitor (set [metrics] provisioned_utilization to its name, or to "" to stop '
        "asking); its tokens and requests are stored without it: %s",
        deployment_id,
        settings.metrics.provisioned_utilization,
        utilization,
    )
    return {}


def _mark_unavailable(run: Run, deployment_id: str, reason: str, now: datetime, *, first: bool) -> None:
    """Record once that Azure Monitor has no metrics for the deployment; later answers only log at info."""
    with Session(run.engine) as session, session.begin():
        if first:
            log.warning(
                "%s: %s (expected InputTokens/OutputTokens/TotalTokens/ModelRequests; set the [metrics] names and "
                "namespace if your tenant has them elsewhere); asked again every recheck_unavailable_hours: %s",
                deployment_id,
                NO_METRICS,
                reason,
            )
            _update(session, deployment_id, since=now, reason=reason[:2000], checked=now)
        else:
            log.info("%s: still %s", deployment_id, NO_METRICS)
            _update(session, deployment_id, checked=now)


def _update(session: Session, deployment_id: str, **values: Any) -> None:
    """Set the deployment's metrics_unavailable_since / _reason and metrics_checked_at (by short names)."""
    names = {
        "since": "metrics_unavailable_since",
        "reason": "metrics_unavailable_reason",
        "checked": "metrics_checked_at",
    }
    statement = update(Deployment).where(Deployment.resource_id == deployment_id)
    session.execute(statement.values({names[k]: v for k, v in values.items()}))


def roll_up(
    session: Session,
    deployment: MeteredDeployment,
    first_hour: datetime,
    last_minute: datetime,
    near_fraction: float,
) -> None:
    """Recompute the hourly rollups of [first_hour, last_minute] from the minutes, against the
    deployment's limits (a limit it does not state, as a provisioned deployment's tokens, is never near)."""
    deployment_id = deployment.resource_id
    never = float("inf")
    tpm_limit = never if deployment.tpm_limit is None else deployment.tpm_limit
    rpm_limit = never if deployment.rpm_limit is None else deployment.rpm_limit
    near_tpm, near_rpm = tpm_limit * near_fraction, rpm_limit * near_fraction
    near_utilization = FULL_UTILIZATION * near_fraction
    hours: dict[datetime, dict[str, Any]] = {}
    minutes = session.execute(
        select(TrafficMinute).where(
            TrafficMinute.deployment_id == deployment_id,
            TrafficMinute.minute >= first_hour,
            TrafficMinute.minute <= last_minute,
        )
    ).scalars()
    for m in minutes:
        hour = floor_hour(as_utc(m.minute))
        h = hours.setdefault(
            hour,
            {
                **dict.fromkeys(FIELDS, 0),
                "peak_tpm": 0,
                "peak_rpm": 0,
                "minutes": 0,
                "minutes_near_tpm": 0,
                "minutes_near_rpm": 0,
                "minutes_at_limit": 0,
                "peak_utilization_bp": None,
                "minutes_near_utilization": 0,
            },
        )
        for field in FIELDS:
            h[field] += getattr(m, field)
        h["peak_tpm"] = max(h["peak_tpm"], m.total_tokens)
        h["peak_rpm"] = max(h["peak_rpm"], m.requests)
        h["minutes"] += 1
        h["minutes_near_tpm"] += m.total_tokens >= near_tpm
        h["minutes_near_rpm"] += m.requests >= near_rpm
        # PTUs state no tokens per minute: Azure throttles at 100% utilization (docs/azure.md, limits).
        used = m.utilization_bp
        full = used is not None and used >= FULL_UTILIZATION
        h["minutes_at_limit"] += m.total_tokens >= tpm_limit or m.requests >= rpm_limit or full
        if used is not None:
            h["peak_utilization_bp"] = max(h["peak_utilization_bp"] or 0, used)
            h["minutes_near_utilization"] += used >= near_utilization
    upsert(
        session,
        TrafficHour,
        [{"deployment_id": deployment_id, "hour": k, **v} for k, v in hours.items()],
        ("deployment_id", "hour"),
    )


def metered_deployments(engine: Engine, limits: LimitSettings) -> list[MeteredDeployment]:
    """The current serverless deployments (limits from `[limits]`) and Foundry ones (their own)."""
    with Session(engine) as session:
        serverless = session.execute(
            select(Deployment.resource_id, Deployment.model_id, Workspace.subscription_id, Workspace.location)
            .join(Workspace, Workspace.resource_id == Deployment.workspace_id, isouter=True)
            .where(Deployment.kind == "serverless", Deployment.removed_at.is_(None))
            .order_by(Deployment.resource_id)
        ).all()
        foundry = session.execute(
            select(Deployment, FoundryAccount.subscription_id, FoundryAccount.location)
            .join(FoundryAccount, FoundryAccount.resource_id == Deployment.workspace_id)
            .where(Deployment.kind == "foundry", Deployment.removed_at.is_(None))
            .order_by(Deployment.resource_id)
        ).all()
    out = [
        MeteredDeployment(
            r.resource_id,
            model,
            r.subscription_id or r.resource_id.split("/")[2],
            (r.location or "").replace(" ", "").lower(),
            *limits.for_model(model),
        )
        for r in serverless
        for model in [model_name(r.model_id)]
    ]
    out += [
        MeteredDeployment(
            d.resource_id,
            d.model_id,
            subscription_id,
            location.replace(" ", "").lower(),
            d.tokens_per_minute,
            d.requests_per_minute,
            d.workspace_id,
            d.name,
            provisioned=is_provisioned(d.sku_name),
        )
        for d, subscription_id, location in foundry
    ]
    return out


def prune(engine: Engine, settings: Settings, now: datetime) -> int:
    """Drop minutes past retention; their hours are already rolled up."""
    cutoff = floor_hour(now) - timedelta(days=settings.metrics.retention_days)
    with Session(engine) as session, session.begin():
        result = session.execute(delete(TrafficMinute).where(TrafficMinute.minute < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)


def run_metrics(
    settings: Settings,
    engine: Engine,
    *,
    clients: AzureClients | None = None,
    progress: Progress = quiet,
    now: datetime | None = None,
) -> RunSummary:
    """The metrics job: per-minute traffic of every serverless and Foundry deployment the inventory knows."""
    moment = now or utcnow()

    def body(run: Run) -> None:
        deployments = metered_deployments(engine, settings.limits)
        if not settings.metrics.batch and any(d.account_id for d in deployments):
            # A Foundry deployment's traffic is a series of its resource's metrics, split by deployment:
            # read through metrics:getBatch only.
            run.progress("Foundry deployments' traffic needs [metrics] batch = true: left out of this run")
            deployments = [d for d in deployments if not d.account_id]
        if not deployments:
            run.progress("no serverless or Foundry deployments in the inventory yet: run `costwatch collect` first")
        with Session(engine) as session:
            windows = {d.resource_id: _window(session, settings, d.resource_id, moment) for d in deployments}
        batched: dict[str, Minutes | AzureCallError] = {}
        utilization: dict[str, Utilization | AzureCallError] = {}
        if settings.metrics.batch:
            due = {d.resource_id: (d, *w) for d in deployments if (w := windows[d.resource_id]) is not None}
            batched = fetch_batches(run, settings, due)
            utilization = fetch_utilization(run, settings, due)
        for d in deployments:
            work = partial(
                _collect_deployment,
                run,
                settings,
                d,
                windows[d.resource_id],
                batched.get(d.resource_id),
                moment,
                utilization.get(d.resource_id),
            )
            run.scope(f"metrics {d.resource_id}", work)
        run.summary.rows_removed += prune(engine, settings, moment)

    return run_job(engine, settings, DATASET.job, body, clients=clients, progress=progress)
