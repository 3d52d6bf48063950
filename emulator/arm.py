"""JSON shapes of the inventory, as Azure Resource Manager returns them.

Shapes follow the examples of the public REST API specs (docs/azure.md, and
tests/emulator/test_emulator_contract.py); fields the examples leave open are filled with
plausible values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from .inventory import (
    ONLINE_DEPLOYMENT_TYPE,
    MarketplaceSubscription,
    OnlineDeployment,
    OnlineEndpoint,
    SaasResource,
    ServerlessEndpoint,
    StorageAccount,
    Subscription,
    Workspace,
)
from .quota import ML_PROVIDER, Usage

SAAS_BETA_API = "2018-03-01-beta"
JSON = dict[str, Any]


def arm_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def error_body(code: str, message: str) -> JSON:
    return {"error": {"code": code, "message": message}}


def system_data(created: datetime, by: str = "admin@contoso.com") -> JSON:
    modified = created + timedelta(minutes=7)
    return {
        "createdAt": arm_time(created),
        "createdBy": by,
        "createdByType": "User",
        "lastModifiedAt": arm_time(modified),
        "lastModifiedBy": by,
        "lastModifiedByType": "User",
    }


def subscription_json(sub: Subscription, tenant_id: str) -> JSON:
    return {
        "id": sub.id,
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": sub.subscription_id,
        "tenantId": tenant_id,
        "displayName": sub.display_name,
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
        "tags": {},
    }


def workspace_json(ws: Workspace, tenant_id: str) -> JSON:
    properties: JSON = {
        "friendlyName": ws.friendly_name,
        "description": ws.description,
        "provisioningState": "Succeeded",
        "workspaceId": ws.workspace_guid,
        "discoveryUrl": f"https://{ws.location}.api.azureml.ms/discovery",
        "publicNetworkAccess": "Enabled",
        "hbiWorkspace": False,
        "mlFlowTrackingUri": f"azureml://{ws.location}.api.azureml.ms/mlflow/v1.0{ws.id}",
    }
    if ws.hub_id is not None:
        properties["hubResourceId"] = ws.hub_id
    else:
        prefix = f"/subscriptions/{ws.subscription_id}/resourceGroups/{ws.resource_group}/providers"
        short = ws.workspace_guid.replace("-", "")[:8]
        properties["storageAccount"] = f"{prefix}/Microsoft.Storage/storageAccounts/st{short}"
        properties["keyVault"] = f"{prefix}/Microsoft.KeyVault/vaults/kv-{short}"
    return {
        "id": ws.id,
        "name": ws.name,
        "type": "Microsoft.MachineLearningServices/workspaces",
        "location": ws.location,
        "kind": ws.kind,
        "tags": dict(ws.tags),
        "identity": {"type": "SystemAssigned", "principalId": ws.principal_id, "tenantId": tenant_id},
        "sku": {"name": "Basic", "tier": "Basic"},
        "properties": properties,
        "systemData": system_data(ws.created_at),
    }


def marketplace_subscription_json(m: MarketplaceSubscription) -> JSON:
    return {
        "id": m.id,
        "name": m.name,
        "type": "Microsoft.MachineLearningServices/workspaces/marketplaceSubscriptions",
        "properties": {
            "modelId": m.model_id,
            "marketplacePlan": {"publisherId": m.publisher_id, "offerId": m.offer_id, "planId": m.plan_id},
            "marketplaceSubscriptionStatus": m.status,
            "provisioningState": "Succeeded",
        },
        "systemData": system_data(m.created_at),
    }


def serverless_endpoint_json(e: ServerlessEndpoint, tenant_id: str) -> JSON:
    return {
        "id": e.id,
        "name": e.name,
        "type": "Microsoft.MachineLearningServices/workspaces/serverlessEndpoints",
        "location": e.location,
        "kind": "",
        "tags": {},
        "identity": {"type": "None", "principalId": None, "tenantId": tenant_id, "userAssignedIdentities": {}},
        "sku": {"name": "Consumption", "tier": "Standard", "size": None, "family": None, "capacity": None},
        "properties": {
            "modelSettings": {"modelId": e.model_id},
            "authMode": "Key",
            "inferenceEndpoint": {"uri": e.uri, "headers": {}},
            "provisioningState": e.provisioning_state,
            "endpointState": e.endpoint_state,
            "marketplaceSubscriptionId": e.marketplace_subscription_id,
            "contentSafety": {"contentSafetyStatus": "Enabled", "contentSafetyLevel": "Blocking"},
        },
        "systemData": system_data(e.created_at),
    }


def online_endpoint_json(e: OnlineEndpoint, tenant_id: str, deployments: Sequence[str] = ()) -> JSON:
    """`deployments`: the names of its deployments, which share its traffic."""
    traffic = {name: 100 // len(deployments) for name in deployments} if deployments else {"default": 100}
    return {
        "id": e.id,
        "name": e.name,
        "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
        "location": e.location,
        "kind": "Managed",
        "tags": {},
        "identity": {"type": "SystemAssigned", "principalId": None, "tenantId": tenant_id},
        "properties": {
            "authMode": "Key",
            "description": f"Managed compute endpoint serving {e.model}",
            "scoringUri": e.scoring_uri,
            "swaggerUri": e.scoring_uri.replace("/score", "/swagger.json"),
            "provisioningState": "Succeeded",
            "publicNetworkAccess": "Enabled",
            "traffic": traffic,
            "properties": {"vmSize": e.vm_size, "instanceCount": str(e.instance_count)},
        },
        "systemData": system_data(e.created_at),
    }


def display_name(identifier: str) -> str:
    """'meta-llama-3-70b-instruct-offer' -> 'Meta Llama 3 70b Instruct Offer': a display name, as
    2026-04-01 shows offers, plans and publishers."""
    return " ".join(word.capitalize() for word in re.split(r"[-_.]", identifier) if word)


def saas_resource_json(s: SaasResource, api_version: str) -> JSON:
    """`2018-03-01-beta` has offerId/skuId/publisherId/created; newer versions offerName/planName/..."""
    start = s.created_at.replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=365)
    body: JSON = {
        "id": s.id,
        "name": s.name,
        "type": "Microsoft.SaaS/resources",
        "location": "global",
        "tags": dict(s.tags),
    }
    if api_version.lower() == SAAS_BETA_API:
        body["properties"] = {
            "status": s.status,
            "saasResourceName": s.name,
            "publisherId": s.publisher_id,
            "skuId": s.plan_id,
            "offerId": s.offer_id,
            "quantity": None,
            "termId": None,
            "paymentChannelType": "SubscriptionDelegated",
            "paymentChannelMetadata": {"azureSubscriptionId": s.subscription_id, "resourceId": s.asset_id},
            "publisherTestEnvironment": None,
            "term": {"termUnit": "P1M", "startDate": arm_time(start), "endDate": arm_time(end)},
            "autoRenew": True,
            "isFreeTrial": False,
            "created": arm_time(s.created_at),
            "lastModified": arm_time(s.created_at + timedelta(minutes=5)),
        }
        return body
    body["properties"] = {
        "assetId": s.asset_id,
        "subscriptionId": s.asset_id,
        "description": f"Azure AI model subscription {s.offer_name}",
        "status": s.status,
        "statusReason": "None",
        "quantity": None,
        # "Server-resolved from ProductCode": display names, not IDs (the 2026-04-01 spec's example
        # reads "SaaS Offer", "SaaS Plan"); only 2018-03-01-beta gives offerId/skuId/publisherId.
        "publisherName": display_name(s.publisher_id),
        "planName": display_name(s.plan_id),
        "offerName": display_name(s.offer_id),
        "termUnit": "P1M",
        "billingPeriod": "P1M",
        "termStartDate": arm_time(start),
        "termEndDate": arm_time(end),
        "autoRenew": True,
        "isFreeTrial": False,
        "storeFront": "AzureAIStudio",
        "purchaserEmail": "admin@contoso.com",
        "privateOfferId": None,
        "productCode": s.asset_id,
    }
    body["systemData"] = system_data(s.created_at)
    return body


def generic_resource_json(
    resource_id: str, name: str, rtype: str, location: str, tags: dict[str, str], kind: str | None = None
) -> JSON:
    """The shape of `GET /subscriptions/{s}/resources` entries."""
    body: JSON = {"id": resource_id, "name": name, "type": rtype, "location": location, "tags": tags}
    if kind is not None:
        body["kind"] = kind
    return body


def storage_generic_json(st: StorageAccount) -> JSON:
    return generic_resource_json(st.id, st.name, "Microsoft.Storage/storageAccounts", st.location, {}, "StorageV2")


def online_deployment_json(d: OnlineDeployment) -> JSON:
    """A managed online deployment; `sku.capacity` is its instance count."""
    return {
        "id": d.id,
        "name": d.name,
        "type": ONLINE_DEPLOYMENT_TYPE,
        "location": d.location,
        "kind": "Managed",
        "tags": {},
        "sku": {"name": "Default", "tier": "Standard", "capacity": d.instance_count},
        "properties": {
            "endpointComputeType": "Managed",
            "instanceType": d.vm_size,
            "model": d.model_id,
            "provisioningState": "Succeeded",
            "description": None,
            "appInsightsEnabled": False,
            "egressPublicNetworkAccess": "Enabled",
            "scaleSettings": {"scaleType": "Default"},
            "requestSettings": {"maxConcurrentRequestsPerInstance": 1, "requestTimeout": "PT1M30S"},
            "livenessProbe": {"initialDelay": "PT10M", "period": "PT10S", "timeout": "PT2S", "failureThreshold": 30},
        },
        "systemData": system_data(d.created_at),
    }


def _usage_base(u: Usage, kind: str) -> JSON:
    # The examples put no region in these IDs; ours carry it so entries stay unique.
    subscription = f"/subscriptions/{u.subscription_id}"
    if u.workspace:  # a workspace's share: its id is under the workspace, as in the spec's example
        return {
            "id": f"{subscription}/resourceGroups/rg/providers/{ML_PROVIDER}/workspaces/{u.workspace}/{kind}/{u.name}",
            "type": f"{ML_PROVIDER}/workspaces/{kind}",
        }
    family_type = "totalCores" if u.is_total else "vmFamily"
    return {
        "id": f"{subscription}/providers/{ML_PROVIDER}/locations/{u.location}/{kind}/{u.name}",
        "type": f"{ML_PROVIDER}/{family_type}/{kind}",
    }


def ml_usage_json(u: Usage) -> JSON:
    """An entry of GET .../Microsoft.MachineLearningServices/locations/{loc}/usages."""
    return {
        **_usage_base(u, "usages"),
        "currentValue": u.current,
        "limit": u.limit,
        "name": {"value": u.name, "localizedValue": u.localized_name},
        "unit": u.unit,
    }


def ml_quota_json(u: Usage) -> JSON:
    """An entry of GET .../Microsoft.MachineLearningServices/locations/{loc}/quotas."""
    return {
        **_usage_base(u, "quotas"),
        "limit": u.limit,
        "name": {"value": u.name, "localizedValue": u.localized_name},
        "unit": u.unit,
    }


def compute_usage_json(u: Usage) -> JSON:
    """An entry of GET .../Microsoft.Compute/locations/{loc}/usages (no id or type there); the
    Microsoft.CognitiveServices usages have the same shape (cognitiveservices ListUsages.json)."""
    return {
        "unit": u.unit,
        "currentValue": u.current,
        "limit": u.limit,
        "name": {"value": u.name, "localizedValue": u.localized_name},
    }


def storage_connection_json(ws: Workspace) -> JSON:
    """A workspace's connection to its default blob store, in the REST spec's WorkspaceConnection shape
    (2025-09-01 examples): not a model resource's, so it never names a project's costs."""
    short = ws.workspace_guid.replace("-", "")[:8]
    account = f"/subscriptions/{ws.subscription_id}/resourceGroups/{ws.resource_group}/providers"
    account += f"/Microsoft.Storage/storageAccounts/st{short}"
    name = "workspaceblobstore"
    return {
        "id": f"{ws.id}/connections/{name}",
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/connections",
        "properties": {
            "category": "AzureBlob",
            "target": f"https://st{short}.blob.core.windows.net/",
            "authType": "AAD",
            "isSharedToAll": True,
            "metadata": {"ResourceId": account, "ContainerName": "azureml-blobstore"},
        },
    }
