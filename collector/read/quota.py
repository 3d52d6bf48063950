"""Quota as the store holds it: the newest snapshot of every family, and what each line counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from collector.db.models import QuotaSnapshot
from collector.runs import as_utc
from collector.sources.quota import FOUNDRY_PROVIDER


def measure(provider: str, name: str) -> str:
    """What a usage line counts: VM cores, or for Foundry thousands of TPM, PTUs or accounts."""
    if provider != FOUNDRY_PROVIDER:
        return "cores"
    if name == "AccountCount":
        return "accounts"
    return "PTUs" if "provisioned" in name.lower() else "thousands of TPM"


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


def quota_history(
    session: Session, subscription: str, region: str, provider: str, name: str, since: datetime
) -> list[tuple[datetime, int, int]]:
    """(taken at, current, limit) of every snapshot of one family since `since`, oldest first."""
    rows = session.execute(
        select(QuotaSnapshot.taken_at, QuotaSnapshot.current_value, QuotaSnapshot.limit_value)
        .where(
            QuotaSnapshot.subscription_id == subscription,
            QuotaSnapshot.location == region,
            QuotaSnapshot.provider == provider,
            QuotaSnapshot.name == name,
            QuotaSnapshot.taken_at >= since,
        )
        .order_by(QuotaSnapshot.taken_at)
    )
    return [(as_utc(r.taken_at), r.current_value, r.limit_value) for r in rows]
