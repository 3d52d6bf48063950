"""The alerts as the store holds them: firing, resolved or all, by state, severity and key."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.db.models import Alert

STATES = ("firing", "resolved", "all")


def alerts(session: Session, state: str = "firing") -> Sequence[Alert]:
    """The alerts in `state` (one of STATES)."""
    if state not in STATES:
        raise ValueError(f"unknown alert state {state!r}; choose from {', '.join(STATES)}")
    query = select(Alert).order_by(Alert.state, Alert.severity, Alert.key)
    if state != "all":
        query = query.where(Alert.state == state)
    return session.scalars(query).all()
