"""What each Foundry deployment cost. Microsoft bills a Foundry resource per meter, and a meter names
a model and a deployment type (collector.foundry_models), never a deployment: so a deployment's cost is
its resource's rows of its model and type when it is the only deployment of that model and type there,
else the figure is shared with the others, named. A provisioned type's PTU hours are billed for the
type, whatever the model: its deployments of every model share them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from collector.attribution import foundry_account, model_name
from collector.db.models import Deployment
from collector.foundry_models import is_provisioned, meter_sku
from collector.read.spend import spend


@dataclass(frozen=True)
class FoundryDeployment:
    resource_id: str  # the deployment's
    name: str
    account_id: str
    model: str
    sku: str


@dataclass(frozen=True)
class DeploymentCost:
    costs: dict[str, Decimal] = field(default_factory=dict)  # currency -> cost
    shared_with: tuple[str, ...] = ()  # the other deployments the bill does not tell apart from it


def _group(account_id: str, model: str, sku: str) -> tuple[str, str, str]:
    # PTU hours are billed per type, whatever the model; tokens per model and type.
    return (account_id.lower(), "" if is_provisioned(sku) else model.lower(), sku)


def deployment_costs(
    deployments: Iterable[FoundryDeployment], rows: Iterable[tuple[str, str, str, str, Decimal]]
) -> dict[str, DeploymentCost]:
    """Deployment resource ID (lower-case) -> its cost, from `rows` of (resource ID, model, meter,
    currency, cost) of Foundry resources."""
    groups: dict[tuple[str, str, str], list[FoundryDeployment]] = defaultdict(list)
    for d in deployments:
        groups[_group(d.account_id, d.model, d.sku)].append(d)
    sums: dict[tuple[str, str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for resource, model, meter, currency, cost in rows:
        account, sku = foundry_account(resource.lower()), meter_sku(meter)
        if account is None or not sku:
            continue
        sums[_group(account, model, sku)][currency] += cost
    return {
        d.resource_id.lower(): DeploymentCost(
            dict(sums.get(key, {})), tuple(sorted(o.name for o in members if o is not d))
        )
        for key, members in groups.items()
        for d in members
    }


def foundry_deployment_costs(session: Session, date_from: date, date_to: date) -> dict[str, DeploymentCost]:
    """Each Foundry deployment's cost over [date_from, date_to], of those that existed then."""
    current = or_(Deployment.removed_at.is_(None), Deployment.removed_at >= datetime.combine(date_from, time(), UTC))
    deployments = [
        FoundryDeployment(d.resource_id, d.name, d.workspace_id, model_name(d.model_id), d.sku_name)
        for d in session.scalars(select(Deployment).where(Deployment.kind == "foundry", current))
    ]
    rows = spend(session, date_from, date_to, ["resource", "model", "meter"], where={"spend_kind": ["foundry"]})
    return deployment_costs(
        deployments,
        ((r.keys["resource"], r.keys["model"], r.keys["meter"], r.currency, r.cost) for r in rows),
    )
