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
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from azure.core.rest import HttpRequest
from azure.monitor.querymetrics import MetricsQueryResult
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from collector.attribution import model_name
from collector.azure.arm import AzureCallError, azure_errors, error_from, parse_json, url
from collector.azure.clients import AzureClients
from collector.azure.monitor import BATCH_SIZE, endpoint_for, query_batch
from collector.db.models import (
    Deployment,
    FoundryAccount,
    ResourceAttribution,
    TrafficHour,
    TrafficMinute,
    Workspace,
)
from collector.db.upsert import upsert
from collector.runs import Progress, Run, RunSummary, as_utc, execute, quiet, utcnow
from collector.settings import LimitSettings, MetricSettings, Settings

log = logging.getLogger(__name__)

METRICS_API = "2024-02-01"
SERVERLESS_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/serverlessEndpoints"
# A Foundry resource's metrics, one series per deployment (Learn: "Monitor Azure OpenAI", metrics of
# Microsoft.CognitiveServices/accounts split by the ModelDeploymentName dimension).
FOUNDRY_NAMESPACE = "Microsoft.CognitiveServices/accounts"
FOUNDRY_DIMENSION = "ModelDeploymentName"
FOUNDRY_SPLIT = f"{FOUNDRY_DIMENSION} eq '*'"
NO_METRICS = "no traffic metrics from Azure Monitor"
FIELDS = ("input_tokens", "output_tokens", "total_tokens", "requests")
MAX_SPAN = timedelta(hours=24)  # one metrics call covers at most a day of minutes
Minutes = dict[datetime, dict[str, int]]  # minute -> {field: total}


def floor_minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_metrics(body: dict[str, Any], names: MetricSettings, what: str) -> dict[datetime, dict[str, int]]:
    """{minute: {field: total}} from a metrics answer; metrics map by name, never by position."""
    by_name = {getattr(names, f).lower(): f for f in FIELDS}
    minutes: dict[datetime, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
    values = body.get("value")
    if not isinstance(values, list):
        raise AzureCallError(f"{what}: expected a 'value' list of metrics, got keys {sorted(body)}")
    for metric in values:
        name = ((metric or {}).get("name") or {}).get("value", "") if isinstance(metric, dict) else ""
        field = by_name.get(str(name).lower())
        if field is None:
            log.warning("%s: ignored metric %r (expected one of %s)", what, name, sorted(by_name))
            continue
        for series in metric.get("timeseries") or []:
            for point in (series or {}).get("data") or []:
                stamp, total = point.get("timeStamp"), point.get("total")
                try:
                    minute = floor_minute(datetime.fromisoformat(str(stamp).replace("Z", "+00:00")))
                except ValueError:
                    log.warning("%s: skipped a point with timeStamp %r (expected ISO 8601)", what, stamp)
                    continue
                if total is None:
                    total = 0  # Azure leaves out 'total' for minutes without traffic
                if not isinstance(total, int | Decimal) or isinstance(total, bool):
                    log.warning("%s: skipped a point with total %r (expected a number)", what, total)
                    continue
                minutes[minute][field] += int(total)
    return dict(minutes)


def parse_batch(
    results: Sequence[MetricsQueryResult], resource_ids: Sequence[str], names: MetricSettings, what: str
) -> dict[str, Minutes]:
    """{resource ID: minutes} from a metrics:getBatch answer. A result is matched to its resource by its
    metrics' IDs ("<resource>/providers/Microsoft.Insights/metrics/<name>"), else by its position; an
    empty timeseries is a resource without traffic, not an error."""
    split, answered = _parse_results(results, resource_ids, names, what, "")
    return {owner: split.get((owner, ""), {}) for owner in answered}


def parse_split(
    results: Sequence[MetricsQueryResult],
    deployments: dict[str, dict[str, str]],
    names: MetricSettings,
    what: str,
) -> dict[str, Minutes]:
    """{deployment ID: minutes} from a getBatch answer of Foundry resources split by ModelDeploymentName:
    `deployments` maps each resource asked to {deployment name (lower-case): deployment ID}. Azure sends a
    series only for deployments with traffic: one without is idle; a resource the answer leaves out
    leaves its deployments out (an error of theirs). A series naming a deployment the inventory lacks is
    logged and left out."""
    split, answered = _parse_results(results, list(deployments), names, what, FOUNDRY_DIMENSION)
    out: dict[str, Minutes] = {}
    for owner in answered:
        for name, deployment_id in deployments[owner].items():
            out[deployment_id] = split.get((owner, name), {})
    for owner, name in sorted(set(split) - {(o, n) for o in answered for n in deployments[o]}):
        log.warning(
            "%s: ignored the traffic of deployment %r of %s (expected one of its deployments in the inventory: %s)",
            what,
            name,
            owner,
            ", ".join(sorted(deployments[owner])),
        )
    return out


def _parse_results(
    results: Sequence[MetricsQueryResult], resource_ids: Sequence[str], names: MetricSettings, what: str, dimension: str
) -> tuple[dict[tuple[str, str], Minutes], list[str]]:
    """The minutes per (resource, value of `dimension`, lower-case; '' when not split), and the
    resources answered."""
    by_name = {getattr(names, f).lower(): f for f in FIELDS}
    wanted = {r.lower(): r for r in resource_ids}
    out: dict[tuple[str, str], Minutes] = {}
    answered: list[str] = []
    for index, result in enumerate(results):
        ids = {str(m.id or "").lower().split("/providers/microsoft.insights/metrics/")[0] for m in result.metrics}
        owner = next((wanted[i] for i in ids if i in wanted), None)
        if owner is None and not ids and len(results) == len(resource_ids):
            owner = resource_ids[index]
        if owner is None:
            log.warning("%s: ignored a result for %s (expected one of the %d resources asked)", what, ids, len(wanted))
            continue
        answered.append(owner)
        for metric in result.metrics:
            field = by_name.get(str(metric.name or "").lower())
            if field is None:
                log.warning("%s: ignored metric %r (expected one of %s)", what, metric.name, sorted(by_name))
                continue
            for series in metric.timeseries:
                value = ""
                if dimension:
                    found = {k.lower(): v for k, v in (series.metadata_values or {}).items()}.get(dimension.lower())
                    if not found:
                        log.warning("%s: skipped a series of %s without %s", what, owner, dimension)
                        continue
                    value = str(found).lower()
                minutes = out.setdefault((owner, value), defaultdict(lambda: dict.fromkeys(FIELDS, 0)))
                for point in series.data:
                    if point.timestamp is None:
                        log.warning("%s: skipped a point of %s without a timeStamp", what, owner)
                        continue
                    minutes[floor_minute(point.timestamp)][field] += int(point.total or 0)
    return {key: dict(minutes) for key, minutes in out.items()}, answered


def fetch_batches(
    run: Run, settings: Settings, windows: dict[str, tuple[MeteredDeployment, datetime, datetime]]
) -> dict[str, Minutes | AzureCallError]:
    """The minutes of every deployment in `windows` (id -> (deployment, start, end)) through
    metrics:getBatch: one call per 50 resources of a subscription and region (and per day of window),
    each spanning its members' windows; a failed call is the error of each of its members. A serverless
    deployment is a resource of its own; Foundry deployments are asked through their Foundry resource,
    split by ModelDeploymentName (one call covers 50 resources' deployments)."""
    groups: dict[tuple[bool, str, str], list[tuple[MeteredDeployment, datetime, datetime]]] = defaultdict(list)
    for deployment, start, end in windows.values():
        groups[(bool(deployment.account_id), deployment.subscription_id, deployment.region)].append(
            (deployment, start, end)
        )
    out: dict[str, Minutes | AzureCallError] = {}
    for (foundry, _subscription, region), members in sorted(groups.items()):
        client = run.clients.metrics(endpoint_for(settings.arm_endpoint, settings.metrics.batch_endpoint, region))
        by_resource: dict[str, list[tuple[MeteredDeployment, datetime, datetime]]] = defaultdict(list)
        for member in members:
            by_resource[member[0].account_id or member[0].resource_id].append(member)
        resources = sorted(by_resource)
        for first in range(0, len(resources), BATCH_SIZE):
            asked = resources[first : first + BATCH_SIZE]
            out.update(_fetch_batch(client, settings, region, foundry, {r: by_resource[r] for r in asked}))
    return out


def _fetch_batch(
    client: Any,
    settings: Settings,
    region: str,
    foundry: bool,
    members: dict[str, list[tuple[MeteredDeployment, datetime, datetime]]],
) -> dict[str, Minutes | AzureCallError]:
    """One batch of at most 50 resources, a day of window per call."""
    ids = list(members)
    deployments = [d for held in members.values() for d, _, _ in held]
    names = [getattr(settings.metrics, f) for f in FIELDS]
    namespace = FOUNDRY_NAMESPACE if foundry else settings.metrics.namespace or SERVERLESS_NAMESPACE
    split = {r: {d.name.lower(): d.resource_id for d, _, _ in held} for r, held in members.items()}
    minutes: dict[str, Minutes] = {d.resource_id: {} for d in deployments}
    unanswered: dict[str, str] = {}
    cursor = min(s for held in members.values() for _, s, _ in held)
    end = max(e for held in members.values() for _, _, e in held)
    try:
        while cursor < end:
            stop = min(cursor + MAX_SPAN, end)
            what = f"metrics:getBatch in {region} {_iso(cursor)}/{_iso(stop)}"
            if foundry:
                results = query_batch(client, ids, namespace, names, cursor, stop, filter=FOUNDRY_SPLIT)
                answered = parse_split(results, split, settings.metrics, what)
            else:
                answered = parse_batch(
                    query_batch(client, ids, namespace, names, cursor, stop), ids, settings.metrics, what
                )
            for d in deployments:
                if d.resource_id in answered:
                    minutes[d.resource_id].update(answered[d.resource_id])
                else:
                    asked = d.account_id or d.resource_id
                    unanswered.setdefault(d.resource_id, f"{what}: expected a result for {asked}, got none")
            cursor = stop
    except AzureCallError as exc:
        return dict.fromkeys(minutes, exc)
    # A deployment the answer left out fails its scope (retried next run), never stored as idle.
    return {**minutes, **{i: AzureCallError(why) for i, why in unanswered.items()}}


def fetch_minutes(
    run: Run, settings: Settings, deployment_id: str, start: datetime, end: datetime
) -> dict[datetime, dict[str, int]]:
    """One deployment's minutes through the per-resource ARM metrics API (`[metrics] batch = false`)."""
    names = settings.metrics
    metricnames = ",".join(getattr(names, f) for f in FIELDS)
    out: dict[datetime, dict[str, int]] = {}
    cursor = start
    while cursor < end:
        stop = min(cursor + MAX_SPAN, end)
        what = f"metrics of {deployment_id} {_iso(cursor)}/{_iso(stop)}"
        link = url(
            run.clients.settings.arm_endpoint,
            f"{deployment_id}/providers/Microsoft.Insights/metrics",
            METRICS_API,
            timespan=f"{_iso(cursor)}/{_iso(stop)}",
            interval="PT1M",
            metricnames=metricnames,
            aggregation="total",
            **({"metricnamespace": names.namespace} if names.namespace else {}),
        )
        with azure_errors(what):
            response = run.clients.resources.send_request(HttpRequest("GET", link))
        if response.status_code != 200:
            raise error_from(response, what)
        out.update(parse_metrics(parse_json(response, what), names, what))
        cursor = stop
    return out


def metrics_unsupported(exc: AzureCallError) -> bool:
    """Azure Monitor's answer for a resource type or metric it has no metrics for: 400 with "Failed to
    find metric configuration for provider: ..." (quoted in Azure/azure-sdk-for-net#29584), or a code
    or message saying the type or metric is not supported."""
    text = str(exc).lower()
    return exc.status == 400 and (
        "failed to find metric configuration" in text or "notsupported" in exc.code.lower() or "not supported" in text
    )


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
) -> int:
    """Store one deployment's minutes: those of its batch (`batched`), else from its own call."""
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
    ordered = sorted(m for m in minutes if m >= start)  # a batch spans its members' widest window
    rows = [{"deployment_id": deployment_id, "minute": m, **minutes[m]} for m in ordered]
    with Session(run.engine) as session, session.begin():
        if unavailable:
            log.info("metrics of %s: Azure Monitor answers again; traffic is collected", deployment_id)
            _update(session, deployment_id, since=None, reason=None, checked=None)
        upsert(session, TrafficMinute, rows, ("deployment_id", "minute"))
        if ordered:
            roll_up(session, deployment, floor_hour(ordered[0]), ordered[-1], settings.limits.near_fraction)
    run.summary.rows_written += len(rows)
    return len(rows)


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
    hours: dict[datetime, dict[str, int]] = {}
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
            },
        )
        for field in FIELDS:
            h[field] += getattr(m, field)
        h["peak_tpm"] = max(h["peak_tpm"], m.total_tokens)
        h["peak_rpm"] = max(h["peak_rpm"], m.requests)
        h["minutes"] += 1
        h["minutes_near_tpm"] += m.total_tokens >= near_tpm
        h["minutes_near_rpm"] += m.requests >= near_rpm
        h["minutes_at_limit"] += m.total_tokens >= tpm_limit or m.requests >= rpm_limit
    upsert(
        session,
        TrafficHour,
        [{"deployment_id": deployment_id, "hour": k, **v} for k, v in hours.items()],
        ("deployment_id", "hour"),
    )


@dataclass(frozen=True)
class MeteredDeployment:
    """A deployment whose traffic the metrics job collects, with the limits its hours are rolled up against."""

    resource_id: str
    model: str
    subscription_id: str
    region: str  # its workspace's or Foundry resource's, as metrics:getBatch groups resources by region
    tpm_limit: int | None
    rpm_limit: int | None
    # Foundry: the resource whose metrics hold it, and its name there (the ModelDeploymentName dimension)
    account_id: str = ""
    name: str = ""


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
        )
        for d, subscription_id, location in foundry
    ]
    return out


def without_metrics(session: Session) -> list[str]:
    """The current serverless deployments Azure Monitor has no traffic metrics for."""
    return list(
        session.scalars(
            select(Deployment.resource_id)
            .where(Deployment.metrics_unavailable_since.is_not(None), Deployment.removed_at.is_(None))
            .order_by(Deployment.resource_id)
        )
    )


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
        if settings.metrics.batch:
            due = {d.resource_id: (d, *w) for d in deployments if (w := windows[d.resource_id]) is not None}
            batched = fetch_batches(run, settings, due)
        for d in deployments:
            work = partial(
                _collect_deployment, run, settings, d, windows[d.resource_id], batched.get(d.resource_id), moment
            )
            run.scope(f"metrics {d.resource_id}", work)
        run.summary.rows_removed += prune(engine, settings, moment)

    return execute(engine, settings, "metrics", body, clients=clients, progress=progress)


@dataclass(frozen=True)
class DeploymentRow:
    project: str
    deployment: str
    model: str
    kind: str
    status: str
    peak_tpm: int | None
    tpm_limit: int | None
    peak_rpm: int | None
    rpm_limit: int | None
    minutes_near_tpm: int | None  # minutes at or above limits.near_fraction of the limit (whole hours)
    minutes_near_rpm: int | None
    instance_type: str
    instance_count: int | None
    traffic: str = ""  # NO_METRICS when Azure Monitor has none for it: its peaks are then unknown, not 0
    sku: str = ""  # Foundry: the deployment type (GlobalStandard, ProvisionedManaged, ...) and its capacity
    capacity: int | None = None
    resource: str = ""  # Foundry: the Foundry resource the deployment is on


def deployment_headroom(session: Session, settings: Settings, window: timedelta, now: datetime) -> list[DeploymentRow]:
    """Every current deployment with its peak TPM/RPM over the window against its limits.

    Within the minute retention the peaks come from the minutes (exact to the window); beyond it from
    the hourly rollups (whole hours)."""
    start = floor_minute(now) - window
    use_minutes = start >= floor_hour(now) - timedelta(days=settings.metrics.retention_days)
    if use_minutes:
        peaks = (
            select(
                TrafficMinute.deployment_id.label("deployment_id"),
                func.max(TrafficMinute.total_tokens).label("peak_tpm"),
                func.max(TrafficMinute.requests).label("peak_rpm"),
            )
            .where(TrafficMinute.minute >= start)
            .group_by(TrafficMinute.deployment_id)
        )
    else:
        peaks = (
            select(
                TrafficHour.deployment_id.label("deployment_id"),
                func.max(TrafficHour.peak_tpm).label("peak_tpm"),
                func.max(TrafficHour.peak_rpm).label("peak_rpm"),
            )
            .where(TrafficHour.hour >= floor_hour(start))
            .group_by(TrafficHour.deployment_id)
        )
    peak = peaks.subquery()
    near = (
        select(
            TrafficHour.deployment_id,
            func.sum(TrafficHour.minutes_near_tpm).label("near_tpm"),
            func.sum(TrafficHour.minutes_near_rpm).label("near_rpm"),
        )
        .where(TrafficHour.hour >= floor_hour(start))
        .group_by(TrafficHour.deployment_id)
        .subquery()
    )
    # A Foundry deployment's project is its resource's (collector.attribution), else the resource's name.
    project = func.coalesce(Workspace.name, ResourceAttribution.project, FoundryAccount.name, "")
    query = (
        select(
            Deployment,
            project.label("project"),
            FoundryAccount.name.label("resource"),
            peak.c.peak_tpm,
            peak.c.peak_rpm,
            near.c.near_tpm,
            near.c.near_rpm,
        )
        .join(Workspace, Workspace.resource_id == Deployment.workspace_id, isouter=True)
        .join(FoundryAccount, FoundryAccount.resource_id == Deployment.workspace_id, isouter=True)
        .join(ResourceAttribution, ResourceAttribution.resource_id == Deployment.workspace_id, isouter=True)
        .join(peak, peak.c.deployment_id == Deployment.resource_id, isouter=True)
        .join(near, near.c.deployment_id == Deployment.resource_id, isouter=True)
        .where(Deployment.removed_at.is_(None))
        .order_by(project, Deployment.name)
    )
    out = []
    for d, project, resource, peak_tpm, peak_rpm, near_tpm, near_rpm in session.execute(query):
        model = model_name(d.model_id)
        serverless = d.kind == "serverless"
        if serverless:
            tpm_limit, rpm_limit = settings.limits.for_model(model)
        else:  # a Foundry deployment's own, from its capacity (None for managed compute and PTUs' tokens)
            tpm_limit, rpm_limit = d.tokens_per_minute, d.requests_per_minute
        # Without metrics from Azure Monitor its peaks are unknown (None), not a measured 0.
        unknown = serverless and d.metrics_unavailable_since is not None and peak_tpm is None
        measured = (serverless and not unknown) or d.kind == "foundry"
        out.append(
            DeploymentRow(
                project=project or "",
                deployment=d.name,
                model=model,
                kind=d.kind,
                status=d.endpoint_state or d.provisioning_state,
                peak_tpm=(peak_tpm or 0) if measured else None,
                tpm_limit=tpm_limit,
                peak_rpm=(peak_rpm or 0) if measured else None,
                rpm_limit=rpm_limit,
                minutes_near_tpm=int(near_tpm or 0) if measured else None,
                minutes_near_rpm=int(near_rpm or 0) if measured else None,
                instance_type=d.instance_type,
                instance_count=d.instance_count,
                traffic=NO_METRICS if unknown else "",
                sku=d.sku_name,
                capacity=d.capacity,
                resource=resource or "",
            )
        )
    return out
