"""Inventory events: what appeared, changed or went, newest last, with the project each resource is
attributed to (None where none is)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collector.db.models import InventoryEvent, ResourceAttribution


def inventory_events(session: Session, since: datetime) -> list[tuple[InventoryEvent, str | None]]:
    """Every event observed at or after `since`, in the order observed, with its resource's project."""
    query = (
        select(InventoryEvent, ResourceAttribution.project)
        .outerjoin(ResourceAttribution, ResourceAttribution.resource_id == InventoryEvent.resource_id)
        .where(InventoryEvent.observed_at >= since)
        .order_by(InventoryEvent.id)
    )
    return [(event, project) for event, project in session.execute(query)]


def events_of(session: Session, resource_type: str, kind: str, since: datetime) -> list[InventoryEvent]:
    """The events of one kind ("added", "changed", "removed") about one resource type, since `since`."""
    query = select(InventoryEvent).where(
        InventoryEvent.resource_type == resource_type, InventoryEvent.kind == kind, InventoryEvent.observed_at >= since
    )
    return list(session.scalars(query))


def changed_since(session: Session, resource_id: str, since: datetime) -> bool:
    """Whether anything was observed about the resource since `since`."""
    query = (
        select(func.count())
        .select_from(InventoryEvent)
        .where(InventoryEvent.resource_id == resource_id, InventoryEvent.observed_at >= since)
    )
    return bool(session.scalar(query))
