"""The scripted inventory changes `Tenant.step()` walks through, one step per call.

Steps find their resources by project and model, and every tenant size holds those
exactly once (the one-off blueprint cases), so the script is the same for every spec.
Only the time a step runs (`at`, which new resources take as their creation time) varies.
Each step replaces whole lists rather than mutating them, so a request served meanwhile
sees either the old or the new list. Cost data never changes: new resources have no costs.

1. proj-chatbot's Mistral-large subscription: Subscribed -> Suspended (its SaaS resource too).
2. proj-summarizer subscribes to Cohere-command-r-plus: a marketplace subscription, a SaaS
   resource and a serverless endpoint appear.
3. proj-rag's managed deployment scales out by one instance (more quota used).
4. proj-rag's Llama-2-70b serverless endpoint is deleted.
5. proj-chatbot's Mistral-large subscription: Suspended -> Unsubscribed (its SaaS resource too).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .catalog import CATALOG
from .inventory import SAAS_TYPE, MarketplaceSubscription, SaasResource, ServerlessEndpoint, new_guid

if TYPE_CHECKING:
    from .tenant import Tenant

Change = dict[str, Any]


def change(at: datetime, kind: str, resource_type: str, resource_id: str, old: str | None, new: str | None) -> Change:
    return {"at": at, "kind": kind, "resource_type": resource_type, "resource_id": resource_id, "old": old, "new": new}


def model_name(model_id: str) -> str:
    """The model's name in an azureml://registries/<r>/models/<name>[/versions/<n>] ID."""
    return model_id.split("/models/", 1)[-1].split("/", 1)[0]


def _subscription(t: Tenant, project: str, model: str) -> MarketplaceSubscription:
    return next(m for m in t.marketplace_subscriptions if m.project == project and model_name(m.model_id) == model)


def _set_status(t: Tenant, at: datetime, project: str, model: str, status: str) -> list[Change]:
    """A marketplace subscription's new status; its SaaS resource follows, as Azure's does."""
    msub = _subscription(t, project, model)
    changes = [change(at, "status", "marketplaceSubscription", msub.id, msub.status, status)]
    t.marketplace_subscriptions = [replace(m, status=status) if m is msub else m for m in t.marketplace_subscriptions]
    saas = [s for s in t.saas_resources if s.marketplace_subscription_id == msub.id]
    changes += [change(at, "status", "saasResource", s.id, s.status, status) for s in saas]
    ids = {s.id for s in saas}
    t.saas_resources = [replace(s, status=status) if s.id in ids else s for s in t.saas_resources]
    return changes


def _suspend(t: Tenant, at: datetime) -> list[Change]:
    return _set_status(t, at, "proj-chatbot", "Mistral-large", "Suspended")


def _unsubscribe(t: Tenant, at: datetime) -> list[Change]:
    return _set_status(t, at, "proj-chatbot", "Mistral-large", "Unsubscribed")


def _subscribe(t: Tenant, at: datetime) -> list[Change]:
    project = next(p for p in t.projects if p.name == "proj-summarizer")
    model = CATALOG["Cohere-command-r-plus"]
    rng = random.Random(f"{t.spec.seed}|timeline|subscribe")
    resource_name = model.name.replace(".", "-")
    msub = MarketplaceSubscription(
        id=f"{project.id}/marketplaceSubscriptions/{resource_name}",
        name=resource_name,
        project=project.name,
        workspace_id=project.id,
        model_id=model.model_id(),
        publisher_id=model.publisher_id,
        offer_id=model.offer_id,
        plan_id=model.plan_id,
        status="Subscribed",
        created_at=at,
    )
    endpoint_name = f"{resource_name}-{''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(4))}"
    endpoint = ServerlessEndpoint(
        id=f"{project.id}/serverlessEndpoints/{endpoint_name}",
        name=endpoint_name,
        project=project.name,
        workspace_id=project.id,
        location=project.location,
        model_id=msub.model_id,
        marketplace_subscription_id=msub.id,
        provisioning_state="Succeeded",
        endpoint_state="Online",
        uri=f"https://{endpoint_name.lower()}.{project.location}.models.ai.azure.com",
        created_at=at,
    )
    asset = new_guid(rng)
    saas_name = f"{model.offer_id}-{asset}"
    saas = SaasResource(
        id=f"/subscriptions/{project.subscription_id}/resourceGroups/{project.resource_group}"
        f"/providers/{SAAS_TYPE}/{saas_name}",
        name=saas_name,
        subscription_id=project.subscription_id,
        resource_group=project.resource_group,
        offer_id=model.offer_id,
        offer_name=model.offer_id,
        publisher_id=model.publisher_id,
        plan_id=model.plan_id,
        status="Subscribed",
        tags={},
        asset_id=asset,
        created_at=at,
        marketplace_subscription_id=msub.id,
        true_project=project.name,
        expected_project="",  # the tenant applies its attribution rule after the step
        expected_model=model.name,
    )
    t.marketplace_subscriptions = [*t.marketplace_subscriptions, msub]
    t.saas_resources = [*t.saas_resources, saas]
    t.serverless_endpoints = [*t.serverless_endpoints, endpoint]
    return [
        change(at, "added", "marketplaceSubscription", msub.id, None, msub.status),
        change(at, "added", "saasResource", saas.id, None, saas.status),
        change(at, "added", "serverlessEndpoint", endpoint.id, None, endpoint.endpoint_state),
    ]


def _scale(t: Tenant, at: datetime) -> list[Change]:
    deployment = next(d for d in t.online_deployments if d.project == "proj-rag")
    count = deployment.instance_count + 1
    t.online_deployments = [replace(d, instance_count=count) if d is deployment else d for d in t.online_deployments]
    # The endpoint shows its deployment's instance count too.
    t.online_endpoints = [
        replace(e, instance_count=count) if e.id == deployment.endpoint_id else e for e in t.online_endpoints
    ]
    return [change(at, "status", "onlineDeployment", deployment.id, str(deployment.instance_count), str(count))]


def _remove(t: Tenant, at: datetime) -> list[Change]:
    gone = next(
        e for e in t.serverless_endpoints if e.project == "proj-rag" and model_name(e.model_id) == "Llama-2-70b"
    )
    t.serverless_endpoints = [e for e in t.serverless_endpoints if e is not gone]
    return [change(at, "removed", "serverlessEndpoint", gone.id, gone.endpoint_state, None)]


STEPS: tuple[Callable[[Tenant, datetime], list[Change]], ...] = (_suspend, _subscribe, _scale, _remove, _unsubscribe)
