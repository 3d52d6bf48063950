"""The inventory attribution needs: workspaces, SaaS resources, marketplace subscriptions and
serverless deployments. Each `parse_*` turns one ARM object into a row shaped for its table (or None,
logged, when the object has no resource ID); each fetch function lists and parses."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from collector.azure.arm import AzureCallError, list_all, url
from collector.azure.clients import AzureClients
from collector.sources import Dataset
from collector.sources.items import (
    Row,
    as_dict,
    fetch,
    properties_of,
    resource_group,
    resource_id_of,
    tags_of,
    text,
)

log = logging.getLogger(__name__)

# With the Foundry resources, projects and deployments of sources/foundry.py.
DATASET = Dataset(
    job="inventory",
    tables=(
        "workspaces",
        "saas_resources",
        "marketplace_subscriptions",
        "foundry_accounts",
        "foundry_projects",
        "deployments",
        "workspace_connections",
    ),
    key=("resource_id",),
    window="each subscription's whole current state; what Azure no longer lists gets removed_at, never deleted",
)
ML_API = "2025-12-01"
SAAS_API = "2026-04-01"
# The only version whose answer carries the offer's ID (offerId, with publisherId and skuId); 2026-04-01
# gives offerName/planName "server-resolved from ProductCode": display names such as "SaaS Offer"
# (docs/azure.md, cost rows), never matched as IDs.
SAAS_IDS_API = "2018-03-01-beta"
# Where a SaaS resource's offer ID came from, as `collect` and the attribution's detail say it.
OFFER_FROM_OFFER_ID = f"offerId ({SAAS_IDS_API})"
OFFER_FROM_NAME = "resource name <offer>-<GUID>"
_GUID_SUFFIX = re.compile(r"-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def offer_of(saas_name: str, properties: dict[str, Any]) -> tuple[str, str]:
    """The SaaS resource's offer ID and where it came from: `offerId` (2018-03-01-beta), else the
    resource's name less its -GUID; ("", "") when neither gives it (offerName is a display name)."""
    if properties.get("offerId"):
        return str(properties["offerId"]), OFFER_FROM_OFFER_ID
    if _GUID_SUFFIX.search(saas_name):
        return _GUID_SUFFIX.sub("", saas_name), OFFER_FROM_NAME
    return "", ""


def parse_workspace(item: dict[str, Any], subscription_id: str) -> Row | None:
    resource_id, props = resource_id_of(item), properties_of(item)
    if resource_id is None:
        return None
    hub = props.get("hubResourceId")
    return {
        "resource_id": resource_id,
        "subscription_id": subscription_id,
        "resource_group": resource_group(resource_id),
        "name": text(item.get("name")),
        "kind": text(item.get("kind")) or "Default",
        "hub_resource_id": hub.lower() if isinstance(hub, str) and hub else None,
        "location": text(item.get("location")),
        "friendly_name": text(props.get("friendlyName")),
        "tags": tags_of(item),
    }


def parse_saas_resource(item: dict[str, Any], subscription_id: str) -> Row | None:
    """A SaaS resource of either API version. `offer`, `plan` and `publisher` are IDs (2018-03-01-beta's
    offerId, skuId, publisherId, or the offer from the resource's name); `offer_name` is the display
    name 2026-04-01 gives, shown but never matched on."""
    resource_id, props, name = resource_id_of(item), properties_of(item), text(item.get("name"))
    if resource_id is None:
        return None
    offer, source = offer_of(name, props)
    return {
        "resource_id": resource_id,
        "subscription_id": subscription_id,
        "resource_group": resource_group(resource_id),
        "name": name,
        "offer": offer,
        "offer_source": source,
        "offer_name": text(props.get("offerName")),
        "plan": text(props.get("skuId")),
        "publisher": text(props.get("publisherId")),
        "status": text(props.get("status")),
        "tags": tags_of(item),
    }


def parse_marketplace_subscription(item: dict[str, Any], workspace_id: str) -> Row | None:
    resource_id, props = resource_id_of(item), properties_of(item)
    if resource_id is None:
        return None
    plan = as_dict(props.get("marketplacePlan"))
    return {
        "resource_id": resource_id,
        "workspace_id": workspace_id,
        "name": text(item.get("name")),
        "model_id": text(props.get("modelId")),
        "publisher_id": text(plan.get("publisherId")),
        "offer_id": text(plan.get("offerId")),
        "plan_id": text(plan.get("planId")),
        "status": text(props.get("marketplaceSubscriptionStatus")),
        "provisioning_state": text(props.get("provisioningState")),
    }


def parse_serverless_endpoint(item: dict[str, Any], workspace_id: str) -> Row | None:
    resource_id, props = resource_id_of(item), properties_of(item)
    if resource_id is None:
        return None
    model = as_dict(props.get("modelSettings"))
    return {
        "resource_id": resource_id,
        "workspace_id": workspace_id,
        "name": text(item.get("name")),
        "kind": "serverless",
        "model_id": text(model.get("modelId")),
        "marketplace_subscription_id": text(props.get("marketplaceSubscriptionId")).lower(),
        "provisioning_state": text(props.get("provisioningState")),
        "endpoint_state": text(props.get("endpointState")),
        "instance_type": "",
        "instance_count": None,
    }


def workspaces(clients: AzureClients, subscription_id: str) -> Iterator[Row]:
    path = f"/subscriptions/{subscription_id}/providers/Microsoft.MachineLearningServices/workspaces"
    return fetch(clients, path, ML_API, f"list workspaces in {subscription_id}", parse_workspace, subscription_id)


def saas_resources(clients: AzureClients, subscription_id: str) -> list[Row]:
    """The subscription's SaaS resources, with their offer, publisher and plan IDs.

    The list is read in the current version (status, display names) and in 2018-03-01-beta, the only
    one whose answer has the IDs (offerId, publisherId, skuId): one more ARM read per subscription.
    Should the older version fail, the offer comes from each resource's name and a warning says so.
    """
    path = f"/subscriptions/{subscription_id}/providers/Microsoft.SaaS/resources"
    what = f"list SaaS resources in {subscription_id}"
    rows = list(fetch(clients, path, SAAS_API, what, parse_saas_resource, subscription_id))
    if not rows:
        return rows
    try:
        ids = {
            row["resource_id"]: row
            for row in fetch(
                clients, path, SAAS_IDS_API, f"{what} ({SAAS_IDS_API})", parse_saas_resource, subscription_id
            )
        }
    except AzureCallError as exc:
        log.warning("%s: could not read offer IDs in %s (%s); offers come from resource names", what, SAAS_IDS_API, exc)
        ids = {}
    for row in rows:
        found = ids.get(row["resource_id"])
        if found is not None and found["offer"]:
            row.update({k: found[k] for k in ("offer", "offer_source", "plan", "publisher")})
        if not row["offer"]:
            log.warning(
                "%s: %s: expected an offer ID (offerId in %s, or a name '<offer>-<GUID>'), got neither; "
                "its costs stay unattributed until it is tagged or mapped in [attribution.resources]",
                what,
                row["resource_id"],
                SAAS_IDS_API,
            )
    return rows


def marketplace_subscriptions(clients: AzureClients, workspace_id: str) -> Iterator[Row]:
    what = f"list marketplace subscriptions of {workspace_id}"
    path = f"{workspace_id}/marketplaceSubscriptions"
    return fetch(clients, path, ML_API, what, parse_marketplace_subscription, workspace_id)


def serverless_endpoints(clients: AzureClients, workspace_id: str) -> Iterator[Row]:
    what = f"list serverless endpoints of {workspace_id}"
    return fetch(clients, f"{workspace_id}/serverlessEndpoints", ML_API, what, parse_serverless_endpoint, workspace_id)


# The connection categories that reach a model resource (Microsoft.CognitiveServices/accounts).
MODEL_CONNECTIONS = ("azureopenai", "aiservices", "cognitiveservice")
_ACCOUNT = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.cognitiveservices/accounts/[^/]+$"
)


def parse_connection(item: dict[str, Any], workspace_id: str, what: str) -> Row | None:
    """A hub's or project's connection to a Foundry or Azure OpenAI resource: its category says so and
    its `metadata.ResourceId` names the resource (docs/azure.md, connections). Other connections (search,
    storage, registries...) are no model's: None, silently; a model connection without the resource's
    ID is logged and left out (its costs stay with the resource's other clues)."""
    resource_id, props = resource_id_of(item), properties_of(item)
    category = text(props.get("category"))
    if resource_id is None or category.lower() not in MODEL_CONNECTIONS:
        return None
    metadata = {str(k).lower(): v for k, v in as_dict(props.get("metadata")).items()}
    account_id = text(metadata.get("resourceid")).lower().rstrip("/")
    if not _ACCOUNT.match(account_id):
        log.warning(
            "%s: connection %s (%s) names no Cognitive Services account in metadata.ResourceId (got %r): not "
            "used to attribute costs",
            what,
            text(item.get("name")),
            category,
            metadata.get("resourceid"),
        )
        return None
    return {
        "resource_id": resource_id,
        "workspace_id": workspace_id,
        "name": text(item.get("name")),
        "category": category,
        "account_id": account_id,
    }


def connections(clients: AzureClients, workspace_id: str) -> list[Row]:
    """A hub's or project's connections to model resources (see parse_connection)."""
    what = f"list connections of {workspace_id}"
    items = list_all(clients.resources, url(clients.settings.arm_endpoint, f"{workspace_id}/connections", ML_API), what)
    return [row for item in items if (row := parse_connection(item, workspace_id, what)) is not None]


def parse_online_deployment(item: dict[str, Any], workspace_id: str) -> Row | None:
    """A managed online endpoint's deployment: the VM size and instance count it runs on."""
    resource_id, props = resource_id_of(item), properties_of(item)
    if resource_id is None:
        return None
    capacity = as_dict(item.get("sku")).get("capacity")
    parts = resource_id.split("/")
    return {
        "resource_id": resource_id,
        "workspace_id": workspace_id,
        # endpoint/deployment: a deployment's own name repeats across endpoints ("blue", "default")
        "name": f"{parts[-3]}/{parts[-1]}" if len(parts) > 3 else text(item.get("name")),
        "kind": "managed",
        "model_id": text(props.get("model")),
        "marketplace_subscription_id": "",
        "provisioning_state": text(props.get("provisioningState")),
        "endpoint_state": "",
        "instance_type": text(props.get("instanceType")),
        "instance_count": int(capacity) if isinstance(capacity, int | Decimal) else None,
    }


def online_deployments(clients: AzureClients, workspace_id: str) -> Iterator[Row]:
    what = f"list online endpoints of {workspace_id}"
    for endpoint in list_all(
        clients.resources, url(clients.settings.arm_endpoint, f"{workspace_id}/onlineEndpoints", ML_API), what
    ):
        endpoint_id = resource_id_of(endpoint)
        if endpoint_id is None:
            log.warning("%s: skipped an endpoint without a resource ID: %r", what, endpoint)
            continue
        yield from fetch(
            clients,
            f"{endpoint_id}/deployments",
            ML_API,
            f"list deployments of {endpoint_id}",
            parse_online_deployment,
            workspace_id,
        )
