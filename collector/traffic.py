"""Rate-limit headroom: each serverless deployment's tokens and requests per minute (Azure Monitor).

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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from azure.core.rest import HttpRequest
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from collector.attribution import model_name
from collector.azure.arm import AzureCallError, azure_errors, error_from, parse_json, url
from collector.azure.clients import AzureClients
from collector.db.models import Deployment, TrafficHour, TrafficMinute, Workspace
from collector.db.upsert import upsert
from collector.runs import Progress, Run, RunSummary, as_utc, execute, quiet, utcnow
from collector.settings import LimitSettings, MetricSettings, Settings

log = logging.getLogger(__name__)

METRICS_API = "2024-02-01"
NO_METRICS = "no traffic metrics from Azure Monitor"
FIELDS = ("input_tokens", "output_tokens", "total_tokens", "requests")
MAX_SPAN = timedelta(hours=24)  # one metrics call covers at most a day of minutes


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


def fetch_minutes(
    run: Run, settings: Settings, deployment_id: str, start: datetime, end: datetime
) -> dict[datetime, dict[str, int]]:
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


def _collect_deployment(run: Run, settings: Settings, deployment_id: str, model: str, now: datetime) -> int:
    with Session(run.engine) as session:
        last = session.scalar(
            select(func.max(TrafficMinute.minute)).where(TrafficMinute.deployment_id == deployment_id)
        )
        deployment = session.get(Deployment, deployment_id)
        checked = deployment.metrics_checked_at if deployment is not None else None
        unavailable = deployment is not None and deployment.metrics_unavailable_since is not None
    recheck = timedelta(hours=settings.metrics.recheck_unavailable_hours)
    if unavailable and checked is not None and now - as_utc(checked) < recheck:
        return 0  # known to have no metrics: asked again once `recheck` has passed, not every run
    end = floor_minute(now)
    if last is None:
        start = end - timedelta(hours=settings.metrics.first_lookback_hours)
    else:
        start = min(as_utc(last) - timedelta(minutes=settings.metrics.overlap_minutes), end)
    try:
        minutes = fetch_minutes(run, settings, deployment_id, start, end)
    except AzureCallError as exc:
        if not metrics_unsupported(exc):
            raise
        _mark_unavailable(run, deployment_id, str(exc), now, first=not unavailable)
        return 0
    ordered = sorted(minutes)
    rows = [{"deployment_id": deployment_id, "minute": m, **minutes[m]} for m in ordered]
    with Session(run.engine) as session, session.begin():
        if unavailable:
            log.info("metrics of %s: Azure Monitor answers again; traffic is collected", deployment_id)
            _update(session, deployment_id, since=None, reason=None, checked=None)
        upsert(session, TrafficMinute, rows, ("deployment_id", "minute"))
        if ordered:
            roll_up(session, deployment_id, floor_hour(ordered[0]), ordered[-1], model, settings.limits)
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
    session: Session, deployment_id: str, first_hour: datetime, last_minute: datetime, model: str, limits: LimitSettings
) -> None:
    """Recompute the hourly rollups of [first_hour, last_minute] from the minutes."""
    tpm_limit, rpm_limit = limits.for_model(model)
    near_tpm, near_rpm = tpm_limit * limits.near_fraction, rpm_limit * limits.near_fraction
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


def serverless_deployments(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        rows = session.execute(
            select(Deployment.resource_id, Deployment.model_id).where(
                Deployment.kind == "serverless", Deployment.removed_at.is_(None)
            )
        ).all()
    return [(r.resource_id, model_name(r.model_id)) for r in rows]


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
    """The metrics job: per-minute traffic of every serverless deployment the inventory knows."""
    moment = now or utcnow()

    def body(run: Run) -> None:
        deployments = serverless_deployments(engine)
        if not deployments:
            run.progress("no serverless deployments in the inventory yet: run `costwatch collect` first")
        for deployment_id, model in deployments:
            run.scope(
                f"metrics {deployment_id}", partial(_collect_deployment, run, settings, deployment_id, model, moment)
            )
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
    query = (
        select(
            Deployment,
            Workspace.name.label("project"),
            peak.c.peak_tpm,
            peak.c.peak_rpm,
            near.c.near_tpm,
            near.c.near_rpm,
        )
        .join(Workspace, Workspace.resource_id == Deployment.workspace_id, isouter=True)
        .join(peak, peak.c.deployment_id == Deployment.resource_id, isouter=True)
        .join(near, near.c.deployment_id == Deployment.resource_id, isouter=True)
        .where(Deployment.removed_at.is_(None))
        .order_by(Workspace.name, Deployment.name)
    )
    out = []
    for d, project, peak_tpm, peak_rpm, near_tpm, near_rpm in session.execute(query):
        model = model_name(d.model_id)
        serverless = d.kind == "serverless"
        tpm_limit, rpm_limit = settings.limits.for_model(model) if serverless else (None, None)
        # Without metrics from Azure Monitor its peaks are unknown (None), not a measured 0.
        unknown = serverless and d.metrics_unavailable_since is not None and peak_tpm is None
        measured = serverless and not unknown
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
            )
        )
    return out
