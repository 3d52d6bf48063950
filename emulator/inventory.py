"""The tenant's inventory: the ARM resources the emulator serves, as frozen records.

Kept apart from generation (tenant.py) so the scripted timeline (timeline.py) can build
and replace records without importing the generator.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from .catalog import CatalogModel

ATTRIBUTION_TAG = "costwatch-project"
SAAS_TYPE = "Microsoft.SaaS/resources"
WORKSPACE_TYPE = "Microsoft.MachineLearningServices/workspaces"
ONLINE_DEPLOYMENT_TYPE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    display_name: str
    currency: str

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.subscription_id}"


@dataclass(frozen=True)
class Workspace:
    """An AI Studio hub (kind "Hub") or project (kind "Project")."""

    id: str
    name: str
    kind: str
    subscription_id: str
    resource_group: str
    location: str
    friendly_name: str
    description: str
    tags: Mapping[str, str]
    hub_id: str | None
    workspace_guid: str
    principal_id: str
    created_at: datetime


@dataclass(frozen=True)
class MarketplaceSubscription:
    id: str
    name: str
    project: str
    workspace_id: str
    model_id: str
    publisher_id: str
    offer_id: str
    plan_id: str
    status: str  # "Subscribed" | "Suspended" | "Unsubscribed"
    created_at: datetime


@dataclass(frozen=True)
class SaasResource:
    """The `Microsoft.SaaS/resources` Azure creates per project and model offer.

    `expected_project` is what costwatch's attribution rule can determine from the
    inventory (tag, else elimination within the resource group); `true_project` is the
    real owner, which differs when the rule cannot tell ("(unattributed)").
    """

    id: str
    name: str
    subscription_id: str
    resource_group: str
    offer_id: str  # lower-case, equal to the plan's offerId
    offer_name: str  # as shown in the resource (case varies)
    publisher_id: str
    plan_id: str
    status: str
    tags: Mapping[str, str]
    asset_id: str
    created_at: datetime
    marketplace_subscription_id: str
    true_project: str
    expected_project: str
    expected_model: str


@dataclass(frozen=True)
class ServerlessEndpoint:
    id: str
    name: str
    project: str
    workspace_id: str
    location: str
    model_id: str
    marketplace_subscription_id: str
    provisioning_state: str
    endpoint_state: str
    uri: str
    created_at: datetime
    # The traffic shape the metrics serve (traffic.py): "normal", "quiet", "idle",
    # "tokens_hot" (bursts near the tokens-per-minute limit), "requests_hot" or
    # "throttled" (a minute at the tokens-per-minute limit every hour).
    traffic: str = "normal"


@dataclass(frozen=True)
class OnlineEndpoint:
    """A managed-compute endpoint: VMs billed per hour, no Marketplace resource."""

    id: str
    name: str
    project: str
    workspace_id: str
    location: str
    model: str
    vm_size: str
    instance_count: int
    scoring_uri: str
    created_at: datetime


@dataclass(frozen=True)
class StorageAccount:
    id: str
    name: str
    subscription_id: str
    resource_group: str
    location: str
    created_at: datetime


@dataclass(frozen=True)
class OnlineDeployment:
    """A deployment of a managed online endpoint: `instance_count` VMs of `vm_size`.

    Its cores count against the subscription's Azure ML VM-family quota in its region.
    """

    id: str
    name: str
    endpoint_id: str
    project: str
    subscription_id: str
    location: str
    model_id: str
    vm_size: str
    instance_count: int
    created_at: datetime


def new_guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def offer_cased(model: CatalogModel) -> str:
    """The offer ID in the mixed case some SaaS resource names carry."""
    if model.offer_id == f"{model.name.lower()}-offer":
        return f"{model.name}-Offer"
    return "-".join(part.capitalize() for part in model.offer_id.split("-"))
