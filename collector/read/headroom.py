"""Headroom: each current deployment's peak tokens and requests per minute over a window, against its
own limits (a serverless deployment's from [limits], a Foundry deployment's from its capacity), and a
provisioned deployment's peak PTU utilization (its limit is 100%)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collector.attribution import model_name
from collector.db.models import Deployment, FoundryAccount, ResourceAttribution, TrafficHour, TrafficMinute, Workspace
from collector.periods import floor_hour, floor_minute
from collector.settings import Settings
from collector.sources.traffic import NO_METRICS


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
    # Provisioned: the busiest minute's PTU utilization in percent (None: not provisioned, or none stated)
    peak_utilization_pct: Decimal | None = None
    minutes_near_utilization: int | None = None
    resource_id: str = ""  # the deployment's ARM ID

    def busiest(self) -> tuple[str, Decimal] | None:
        """Which limit the deployment came nearest ("tokens", "requests" or "PTU utilization"; the first
        of equals) and its peak's share of it; None without a limit stated or a peak measured (managed
        compute, no metrics from Azure Monitor). The rate_limit rule and /metrics both judge by it."""
        shares = {
            "tokens": (self.peak_tpm, self.tpm_limit),
            "requests": (self.peak_rpm, self.rpm_limit),
            "PTU utilization": (self.peak_utilization_pct, 100 if self.peak_utilization_pct is not None else None),
        }
        known = {name: Decimal(peak) / limit for name, (peak, limit) in shares.items() if peak is not None and limit}
        if self.kind not in ("serverless", "foundry") or not known:
            return None
        which = max(known, key=lambda name: known[name])
        return which, known[which]


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
                func.max(TrafficMinute.utilization_bp).label("peak_utilization"),
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
                func.max(TrafficHour.peak_utilization_bp).label("peak_utilization"),
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
            func.sum(TrafficHour.minutes_near_utilization).label("near_utilization"),
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
            peak.c.peak_utilization,
            near.c.near_utilization,
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
    for d, project, resource, peak_tpm, peak_rpm, near_tpm, near_rpm, utilization, near_used in session.execute(query):
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
                peak_utilization_pct=None if utilization is None else Decimal(int(utilization)) / 100,
                minutes_near_utilization=None if utilization is None else int(near_used or 0),
                resource_id=d.resource_id,
            )
        )
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
