"""`resource_attribution` kept current: refreshed from the inventory and the settings before a cost
run's chunks, then each chunk's resources not seen before attributed as the chunk is written, so
that its rollups can be brought up to date in the same transaction (cost_chunks.write_chunk).

A resource's attribution depends only on the inventory and the settings (collector.attribution), which
do not change during a run: a resource attributed with its chunk gets what the refresh would give it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, distinct, select
from sqlalchemy.orm import Session

from collector import attribution
from collector.db.models import (
    CostRow,
    MarketplaceSubscription,
    ResourceAttribution,
    SaasResource,
    Workspace,
    is_project,
)
from collector.db.upsert import upsert
from collector.runs import utcnow
from collector.settings import AttributionSettings

# Resource IDs per lookup of those already attributed: within every database's limit on parameters.
_LOOKUP = 1_000


@dataclass(frozen=True)
class Attributions:
    """What attribution reads (the inventory's projects, SaaS resources and offers, and the settings),
    read once per run."""

    projects: list[attribution.Project]
    saas: list[attribution.SaasInfo]
    offers: list[attribution.OfferSubscription]
    settings: AttributionSettings

    @classmethod
    def read(cls, session: Session, settings: AttributionSettings) -> Attributions:
        return cls(
            [
                attribution.Project(w.resource_id, w.name, w.subscription_id, w.resource_group)
                for w in session.scalars(select(Workspace).where(is_project()))
            ],
            [
                attribution.SaasInfo(
                    s.resource_id,
                    s.subscription_id,
                    s.resource_group,
                    s.name,
                    s.offer,
                    s.tags or {},
                    s.offer_source,
                    s.publisher,
                    s.plan,
                )
                for s in session.scalars(select(SaasResource))
            ],
            [
                attribution.OfferSubscription(m.workspace_id, m.offer_id, m.model_id, m.publisher_id, m.plan_id)
                for m in session.scalars(select(MarketplaceSubscription))
            ],
            settings,
        )

    def attribute(self, resource_ids: Iterable[str]) -> list[attribution.Attribution]:
        """The given resources' attributions, and every SaaS resource's of the inventory."""
        return attribution.attribute(resource_ids, self.projects, self.saas, self.offers, self.settings)

    def add_new(self, session: Session, resource_ids: Iterable[str]) -> None:
        """Attribute, in the session's transaction, those of `resource_ids` not attributed yet."""
        wanted = sorted(set(resource_ids))
        known: set[str] = set()
        for start in range(0, len(wanted), _LOOKUP):
            batch = wanted[start : start + _LOOKUP]
            known.update(
                session.scalars(
                    select(ResourceAttribution.resource_id).where(ResourceAttribution.resource_id.in_(batch))
                )
            )
        new = set(wanted) - known
        if new:
            _store(session, [a for a in self.attribute(new) if a.resource_id in new])


def refresh(engine: Engine, settings: AttributionSettings) -> tuple[Attributions, bool]:
    """Recompute every stored resource's project and model from the inventory and the settings; also
    True when a resource already attributed got another project, model or kind (its history moved)."""
    with Session(engine) as session, session.begin():
        attributions = Attributions.read(session, settings)
        resource_ids = session.scalars(select(distinct(CostRow.resource_id))).all()
        results = attributions.attribute(resource_ids)
        before = {
            r.resource_id: (r.project, r.model, r.spend_kind) for r in session.scalars(select(ResourceAttribution))
        }
        now = _store(session, results)
        session.execute(delete(ResourceAttribution).where(ResourceAttribution.updated_at != now))
    changed = any(
        a.resource_id in before and before[a.resource_id] != (a.project, a.model, a.spend_kind) for a in results
    )
    return attributions, changed


def _store(session: Session, results: list[attribution.Attribution]) -> object:
    now = utcnow()
    upsert(session, ResourceAttribution, [{**vars(a), "updated_at": now} for a in results], ("resource_id",))
    return now
