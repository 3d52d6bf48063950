"""The inventory attribution needs: subscriptions, workspaces, SaaS resources, marketplace
subscriptions and serverless deployments. Each function returns rows shaped for its table."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from collector.azure.arm import list_all, url
from collector.azure.clients import AzureClients

log = logging.getLogger(__name__)

SUBSCRIPTIONS_API = "2022-12-01"
ML_API = "2025-12-01"
SAAS_API = "2026-04-01"
_RG = re.compile(r"/resourcegroups/([^/]+)/", re.IGNORECASE)
_GUID_SUFFIX = re.compile(r"-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def resource_group(resource_id: str) -> str:
    match = _RG.search(resource_id)
    return match.group(1).lower() if match else ""


def offer_of(saas_name: str, properties: dict[str, Any]) -> str:
    """The SaaS resource's offer: offerName (2026-04-01), offerId (2018-03-01-beta), else its name less -GUID."""
    offer = properties.get("offerName") or properties.get("offerId")
    return str(offer) if offer else _GUID_SUFFIX.sub("", saas_name)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _tags(item: dict[str, Any]) -> dict[str, str]:
    tags = item.get("tags")
    return {str(k): _text(v) for k, v in tags.items()} if isinstance(tags, dict) else {}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _props(item: dict[str, Any]) -> dict[str, Any]:
    return _dict(item.get("properties"))


def _id(item: dict[str, Any], what: str) -> str | None:
    resource_id = item.get("id")
    if not isinstance(resource_id, str) or not resource_id.lower().startswith("/subscriptions/"):
        log.warning("%s: skipped an item without a resource ID (expected '/subscriptions/...'): %r", what, item)
        return None
    return resource_id.lower()


def subscriptions(clients: AzureClients) -> Iterator[dict[str, Any]]:
    what = "list subscriptions"
    for item in list_all(
        clients.resources, url(clients.settings.arm_endpoint, "/subscriptions", SUBSCRIPTIONS_API), what
    ):
        subscription_id = _text(item.get("subscriptionId")).lower()
        if not subscription_id:
            log.warning("%s: skipped an item without subscriptionId: %r", what, item)
            continue
        yield {
            "subscription_id": subscription_id,
            "display_name": _text(item.get("displayName")),
            "state": _text(item.get("state")),
            "tenant_id": _text(item.get("tenantId")),
        }


def workspaces(clients: AzureClients, subscription_id: str) -> Iterator[dict[str, Any]]:
    what = f"list workspaces in {subscription_id}"
    path = f"/subscriptions/{subscription_id}/providers/Microsoft.MachineLearningServices/workspaces"
    for item in list_all(clients.resources, url(clients.settings.arm_endpoint, path, ML_API), what):
        resource_id = _id(item, what)
        if resource_id is None:
            continue
        props = _props(item)
        hub = props.get("hubResourceId")
        yield {
            "resource_id": resource_id,
            "subscription_id": subscription_id,
            "resource_group": resource_group(resource_id),
            "name": _text(item.get("name")),
            "kind": _text(item.get("kind")) or "Default",
            "hub_resource_id": hub.lower() if isinstance(hub, str) and hub else None,
            "location": _text(item.get("location")),
            "friendly_name": _text(props.get("friendlyName")),
            "tags": _tags(item),
        }


def saas_resources(clients: AzureClients, subscription_id: str) -> Iterator[dict[str, Any]]:
    what = f"list SaaS resources in {subscription_id}"
    path = f"/subscriptions/{subscription_id}/providers/Microsoft.SaaS/resources"
    for item in list_all(clients.resources, url(clients.settings.arm_endpoint, path, SAAS_API), what):
        resource_id = _id(item, what)
        if resource_id is None:
            continue
        props, name = _props(item), _text(item.get("name"))
        yield {
            "resource_id": resource_id,
            "subscription_id": subscription_id,
            "resource_group": resource_group(resource_id),
            "name": name,
            "offer": offer_of(name, props),
            "plan": _text(props.get("planName") or props.get("skuId")),
            "publisher": _text(props.get("publisherName") or props.get("publisherId")),
            "status": _text(props.get("status")),
            "tags": _tags(item),
        }


def marketplace_subscriptions(clients: AzureClients, workspace_id: str) -> Iterator[dict[str, Any]]:
    what = f"list marketplace subscriptions of {workspace_id}"
    for item in list_all(
        clients.resources,
        url(clients.settings.arm_endpoint, f"{workspace_id}/marketplaceSubscriptions", ML_API),
        what,
    ):
        resource_id = _id(item, what)
        if resource_id is None:
            continue
        props = _props(item)
        plan = _dict(props.get("marketplacePlan"))
        yield {
            "resource_id": resource_id,
            "workspace_id": workspace_id,
            "name": _text(item.get("name")),
            "model_id": _text(props.get("modelId")),
            "publisher_id": _text(plan.get("publisherId")),
            "offer_id": _text(plan.get("offerId")),
            "plan_id": _text(plan.get("planId")),
            "status": _text(props.get("marketplaceSubscriptionStatus")),
            "provisioning_state": _text(props.get("provisioningState")),
        }


def serverless_endpoints(clients: AzureClients, workspace_id: str) -> Iterator[dict[str, Any]]:
    what = f"list serverless endpoints of {workspace_id}"
    for item in list_all(
        clients.resources,
        url(clients.settings.arm_endpoint, f"{workspace_id}/serverlessEndpoints", ML_API),
        what,
    ):
        resource_id = _id(item, what)
        if resource_id is None:
            continue
        props = _props(item)
        model = _dict(props.get("modelSettings"))
        yield {
            "resource_id": resource_id,
            "workspace_id": workspace_id,
            "name": _text(item.get("name")),
            "kind": "serverless",
            "model_id": _text(model.get("modelId")),
            "marketplace_subscription_id": _text(props.get("marketplaceSubscriptionId")).lower(),
            "provisioning_state": _text(props.get("provisioningState")),
            "endpoint_state": _text(props.get("endpointState")),
        }
