"""Inventory events: what appeared, changed or went, newest last, with the project each resource is
attributed to (None where none is)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
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
