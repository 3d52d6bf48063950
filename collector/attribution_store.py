"""`resource_attribution` kept current: refreshed from the inventory and the settings before a cost
run's chunks, then each chunk's resources not seen before attributed as the chunk is written, so
that its rollups can be brought up to date in the same transaction (cost_chunks.write_chunk).

A resource's attribution depends only on the inventory and the settings (collector.attribution), which
do not change during a run: a resource attributed with its chunk gets what the refresh would give it.
A Foundry resource's rows take their model from their meter (`meter_models`), kept current alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Engine, delete, distinct, select, tuple_
from sqlalchemy.orm import Session

from collector import attribution
from collector.db.models import (
    CostRow,
    Deployment,
    FoundryAccount,
    FoundryProject,
    MarketplaceSubscription,
    MeterModel,
    ResourceAttribution,
    SaasResource,
    Workspace,
    WorkspaceConnection,
    is_project,
)
from collector.db.upsert import upsert
from collector.foundry_models import is_model_account, is_provisioned, model_of_meter
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
    foundry: list[attribution.FoundryInfo] = field(default_factory=list)
    # Foundry resource ID -> the models its deployments serve or served (removed ones too: their
    # past costs still name them)
    deployed: dict[str, list[str]] = field(default_factory=dict)
    # Foundry resource ID -> provisioned deployment type (sku.name) -> the models holding its PTUs
    provisioned: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @classmethod
    def read(cls, session: Session, settings: AttributionSettings) -> Attributions:
        projects: dict[str, list[attribution.Project]] = defaultdict(list)
        accounts = list(session.scalars(select(FoundryAccount)))
        groups = {a.resource_id: (a.subscription_id, a.resource_group) for a in accounts}
        for p in session.scalars(select(FoundryProject).where(FoundryProject.removed_at.is_(None))):
            sub, group = groups.get(p.account_id, ("", ""))
            projects[p.account_id].append(attribution.Project(p.resource_id, p.name, sub, group))
        deployed: dict[str, list[str]] = defaultdict(list)
        provisioned: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for account_id, model, sku in session.execute(
            select(Deployment.workspace_id, Deployment.model_id, Deployment.sku_name)
            .where(Deployment.kind == "foundry")
            .distinct()
        ):
            deployed[account_id].append(model)
            if is_provisioned(sku):
                provisioned[account_id][sku].append(model)
        hub_projects = [
            attribution.Project(w.resource_id, w.name, w.subscription_id, w.resource_group)
            for w in session.scalars(select(Workspace).where(is_project()))
        ]
        connected = _connected(session, hub_projects)
        foundry = [
            attribution.FoundryInfo(
                a.resource_id,
                a.name,
                a.kind,
                a.tags or {},
                tuple(projects[a.resource_id]),
                connected.get(a.resource_id.lower(), ()),
            )
            for a in accounts
        ]
        return cls(
            hub_projects,
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
            foundry,
            dict(deployed),
            {account_id: dict(by_sku) for account_id, by_sku in provisioned.items()},
        )

    def attribute(self, resource_ids: Iterable[str]) -> list[attribution.Attribution]:
        """The given resources' attributions, and every SaaS resource's of the inventory."""
        return attribution.attribute(resource_ids, self.projects, self.saas, self.offers, self.settings, self.foundry)

    def meter_models(self, meters: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
        """The model of each (resource ID, meter) of a Foundry resource; other resources' meters left out."""
        kinds = {a.resource_id: a.kind for a in self.foundry}
        out = []
        for resource_id, meter in sorted(set(meters)):
            account_id = attribution.foundry_account(resource_id)
            if account_id is not None and is_model_account(kinds.get(account_id, "AIServices")):
                model = model_of_meter(meter, self.deployed.get(account_id, ()), self.provisioned.get(account_id))
                out.append({"resource_id": resource_id, "meter": meter, "model": model})
        return out

    def add_new(self, session: Session, meters: Iterable[tuple[str, str]]) -> None:
        """Attribute, in the session's transaction, the resources and Foundry meters of `meters`
        ((resource ID, meter) pairs of a chunk's rows) not attributed yet."""
        pairs = set(meters)
        foundry = self.meter_models(pairs)
        if foundry:
            keys = [(m["resource_id"], m["meter"]) for m in foundry]
            known_meters = set(
                session.execute(
                    select(MeterModel.resource_id, MeterModel.meter).where(
                        tuple_(MeterModel.resource_id, MeterModel.meter).in_(keys)
                    )
                ).tuples()
            )
            new_meters = [m for m in foundry if (m["resource_id"], m["meter"]) not in known_meters]
            if new_meters:
                upsert(
                    session, MeterModel, [{**m, "updated_at": utcnow()} for m in new_meters], ("resource_id", "meter")
                )
        wanted = sorted({resource_id for resource_id, _meter in pairs})
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
        foundry_meters = session.execute(
            select(CostRow.resource_id, CostRow.meter)
            .where(CostRow.resource_id.contains("/providers/microsoft.cognitiveservices/accounts/"))
            .distinct()
        ).tuples()
        meter_models = attributions.meter_models(foundry_meters)
        models_before = {(m.resource_id, m.meter): m.model for m in session.scalars(select(MeterModel))}
        upsert(session, MeterModel, [{**m, "updated_at": now} for m in meter_models], ("resource_id", "meter"))
        session.execute(delete(MeterModel).where(MeterModel.updated_at != now))
    changed = any(
        a.resource_id in before and before[a.resource_id] != (a.project, a.model, a.spend_kind) for a in results
    ) or any(models_before.get((m["resource_id"], m["meter"]), m["model"]) != m["model"] for m in meter_models)
    return attributions, changed


def _store(session: Session, results: list[attribution.Attribution]) -> object:
    now = utcnow()
    upsert(session, ResourceAttribution, [{**vars(a), "updated_at": now} for a in results], ("resource_id",))
    return now


def _connected(
    session: Session, projects: list[attribution.Project]
) -> dict[str, tuple[tuple[attribution.Project, str], ...]]:
    """Per model resource (lower-case ID): the projects that use it through a current connection, with
    how. A project's own connection is that project's; a hub's is shared by every project of the hub."""
    by_id = {p.resource_id.lower(): p for p in projects}
    workspaces = {
        w.resource_id.lower(): w for w in session.scalars(select(Workspace).where(Workspace.removed_at.is_(None)))
    }
    of_hub: dict[str, list[attribution.Project]] = defaultdict(list)
    for w in workspaces.values():
        if w.hub_resource_id and w.resource_id.lower() in by_id:
            of_hub[w.hub_resource_id.lower()].append(by_id[w.resource_id.lower()])
    out: dict[str, list[tuple[attribution.Project, str]]] = defaultdict(list)
    current = select(WorkspaceConnection).where(WorkspaceConnection.removed_at.is_(None))
    for c in session.scalars(current.order_by(WorkspaceConnection.resource_id)):
        holder = workspaces.get(c.workspace_id.lower())
        if holder is None:
            continue
        if c.workspace_id.lower() in by_id:
            out[c.account_id].append((by_id[c.workspace_id.lower()], f"its connection {c.name}"))
        else:  # a hub's: shared with its projects
            out[c.account_id] += [
                (p, f"connection {c.name} of hub {holder.name}") for p in of_hub[c.workspace_id.lower()]
            ]
    return {account: tuple(found) for account, found in out.items()}
