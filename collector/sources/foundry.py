"""Foundry resources (Microsoft.CognitiveServices/accounts, API 2025-06-01): the accounts of a
subscription, and for those that deploy models (kinds AIServices and OpenAI) their projects and
deployments. Each `parse_*` turns one ARM object into a row for its table, or None (logged) when the
object has no resource ID.

Shapes, from the REST spec's examples and Learn (tests/contract/test_foundry.py): a deployment has
`sku` {name: the deployment type, capacity: thousands of TPM or PTUs}, `properties.model` {format,
name, version} and `properties.rateLimits` [{key: request|token, renewalPeriod: seconds, count}]
(a Standard deployment of capacity 80 states 80 requests per 10 s and 80,000 tokens per 60 s; a
provisioned one states requests only).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from collector.azure.clients import AzureClients
from collector.sources.items import Row, as_dict, fetch, properties_of, resource_group, resource_id_of, tags_of, text

log = logging.getLogger(__name__)

FOUNDRY_API = "2025-06-01"
PROVIDER = "Microsoft.CognitiveServices"


def parse_account(item: dict[str, Any], subscription_id: str) -> Row | None:
    resource_id, props = resource_id_of(item), properties_of(item)
    if resource_id is None:
        return None
    return {
        "resource_id": resource_id,
        "subscription_id": subscription_id,
        "resource_group": resource_group(resource_id),
        "name": text(item.get("name")),
        "kind": text(item.get("kind")),
        "location": text(item.get("location")),
        "sku_name": text(as_dict(item.get("sku")).get("name")),
        "provisioning_state": text(props.get("provisioningState")),
        "tags": tags_of(item),
    }


def parse_project(item: dict[str, Any], account_id: str) -> Row | None:
    resource_id, props = resource_id_of(item), properties_of(item)
    if resource_id is None:
        return None
    return {
        "resource_id": resource_id,
        "account_id": account_id,
        # Azure names a project "<account>/<project>" in some answers and "<project>" in others.
        "name": text(item.get("name")).rsplit("/", 1)[-1],
        "display_name": text(props.get("displayName")),
        "is_default": props.get("isDefault") is True,
        "tags": tags_of(item),
    }


def _count(value: Any) -> int | None:
    return int(value) if isinstance(value, int | Decimal) and not isinstance(value, bool) else None


def per_minute(rate_limits: Any, key: str) -> int | None:
    """The `key` ('request' or 'token') limit of a deployment's rateLimits, per minute; None when not stated."""
    for limit in rate_limits if isinstance(rate_limits, list) else []:
        limit = as_dict(limit)
        count, period = _count(limit.get("count")), limit.get("renewalPeriod")
        if str(limit.get("key", "")).lower() != key or count is None:
            continue
        if not isinstance(period, int | Decimal) or isinstance(period, bool) or period <= 0:
            log.warning("rateLimits: %s limit without a renewalPeriod in seconds: %r; ignored", key, limit)
            continue
        return int(Decimal(count) * 60 / Decimal(period))
    return None


def parse_deployment(item: dict[str, Any], account_id: str) -> Row | None:
    resource_id, props = resource_id_of(item), properties_of(item)
    if resource_id is None:
        return None
    model, sku = as_dict(props.get("model")), as_dict(item.get("sku"))
    return {
        "resource_id": resource_id,
        "workspace_id": account_id,
        "name": text(item.get("name")),
        "kind": "foundry",
        "model_id": text(model.get("name")),
        "marketplace_subscription_id": "",
        "provisioning_state": text(props.get("provisioningState")),
        "endpoint_state": "",
        "instance_type": "",
        "instance_count": None,
        "model_version": text(model.get("version")),
        "sku_name": text(sku.get("name")),
        "capacity": _count(sku.get("capacity")),
        "tokens_per_minute": per_minute(props.get("rateLimits"), "token"),
        "requests_per_minute": per_minute(props.get("rateLimits"), "request"),
    }


def accounts(clients: AzureClients, subscription_id: str) -> Iterator[Row]:
    """The subscription's Cognitive Services accounts, of every kind: their kind tells attribution which
    are Foundry resources (collector.foundry_models.MODEL_KINDS) and which are not AI model spend."""
    path = f"/subscriptions/{subscription_id}/providers/{PROVIDER}/accounts"
    what = f"list Cognitive Services accounts in {subscription_id}"
    return fetch(clients, path, FOUNDRY_API, what, parse_account, subscription_id)


def projects(clients: AzureClients, account_id: str) -> Iterator[Row]:
    return fetch(
        clients, f"{account_id}/projects", FOUNDRY_API, f"list projects of {account_id}", parse_project, account_id
    )


def deployments(clients: AzureClients, account_id: str) -> Iterator[Row]:
    what = f"list deployments of {account_id}"
    return fetch(clients, f"{account_id}/deployments", FOUNDRY_API, what, parse_deployment, account_id)
