"""The inventory as stored: subscriptions' names, where the projects are, deployments and marketplace
subscriptions with the project each belongs to."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collector.attribution import UNATTRIBUTED
from collector.db.models import (
    Deployment,
    MarketplaceSubscription,
    ResourceAttribution,
    Subscription,
    TrafficHour,
    Workspace,
    is_project,
)


def subscription_names(session: Session) -> dict[str, str]:
    """subscription ID -> its display name (the ID where Azure gave none)."""
    return {
        s.subscription_id: s.display_name or s.subscription_id
        for s in session.execute(select(Subscription.subscription_id, Subscription.display_name))
    }


def project_places(session: Session) -> list[tuple[str, str, str]]:
    """(project, subscription, lower-case region) of every current project."""
    rows = session.execute(
        select(Workspace.name, Workspace.subscription_id, Workspace.location).where(
            is_project(), Workspace.removed_at.is_(None)
        )
    )
    return [(r.name, r.subscription_id, r.location.lower()) for r in rows]


def project_workspace_ids(session: Session, projects: Collection[str]) -> list[str]:
    """The resource IDs of the workspaces named `projects` (lower-case names)."""
    return list(session.scalars(select(Workspace.resource_id).where(func.lower(Workspace.name).in_(projects))))


def deployments(
    session: Session, projects: Collection[str] | None = None, *, kind: str | None = None, name: str | None = None
) -> list[tuple[Deployment, str]]:
    """Deployments (current and removed) with their workspace's name ('' for a Foundry resource's),
    only of `projects` (lower-case names) when given."""
    query = (
        select(Deployment, Workspace.name.label("project"))
        .join(Workspace, Workspace.resource_id == Deployment.workspace_id, isouter=True)
        .order_by(Workspace.name, Deployment.name)
    )
    if projects is not None:
        query = query.where(func.lower(Workspace.name).in_(projects))
    if kind is not None:
        query = query.where(Deployment.kind == kind)
    if name is not None:
        query = query.where(Deployment.name == name)
    return [(d, project or "") for d, project in session.execute(query)]


def foundry_deployments(session: Session, projects: Collection[str] | None = None) -> list[tuple[Deployment, str]]:
    """Foundry deployments (current and removed) with the project their resource's costs go to
    (collector.attribution; UNATTRIBUTED when none), only of `projects` (lower-case names) when given."""
    project = func.coalesce(ResourceAttribution.project, UNATTRIBUTED)
    query = (
        select(Deployment, project.label("project"))
        .join(ResourceAttribution, ResourceAttribution.resource_id == Deployment.workspace_id, isouter=True)
        .where(Deployment.kind == "foundry")
        .order_by(project, Deployment.name)
    )
    if projects is not None:
        query = query.where(func.lower(project).in_(projects))
    return [(d, project) for d, project in session.execute(query)]


def traffic_hours(session: Session, deployment_ids: Collection[str], since: datetime) -> list[TrafficHour]:
    """The hourly traffic rollups of these deployments from `since`, by deployment and hour."""
    query = (
        select(TrafficHour)
        .where(TrafficHour.hour >= since, TrafficHour.deployment_id.in_(sorted(deployment_ids)))
        .order_by(TrafficHour.deployment_id, TrafficHour.hour)
    )
    return list(session.scalars(query))


def marketplace_subscriptions(session: Session) -> list[tuple[MarketplaceSubscription, str | None]]:
    """Every marketplace subscription (gone ones too) with its project."""
    query = (
        select(MarketplaceSubscription, Workspace.name)
        .join(Workspace, Workspace.resource_id == MarketplaceSubscription.workspace_id, isouter=True)
        .order_by(Workspace.name, MarketplaceSubscription.name)
    )
    return [(m, project) for m, project in session.execute(query)]


def workspace_names(session: Session) -> dict[str, str]:
    """workspace (hub or project) resource ID -> its name."""
    return {w.resource_id: w.name for w in session.scalars(select(Workspace))}
