"""The tenant's Foundry resources (Microsoft.CognitiveServices/accounts): their projects, model
deployments, regional quota and daily costs, in Azure's wire format (API 2025-06-01).

Shapes follow the REST spec's examples (GetDeployment.json, GetProject.json,
ListAccountsBySubscription.json, ListUsages.json) and Learn's Deployments List answer: a Standard
deployment of capacity C states rateLimits of C requests per 10 s and 1,000 x C tokens per 60 s; a
provisioned one states requests only. Quota names are "<OpenAI|AIServices>.<sku>.<model>" (the
model catalog's usageName: OpenAI for OpenAI-format models, AIServices for the others), and
"<OpenAI>.<sku>" for provisioned throughput, which is not per model.

Traffic (Azure Monitor metrics of the account, split by ModelDeploymentName) is the same pure
function as the serverless endpoints' (traffic.py), against each deployment's own limits: the
default tenant's DeepSeek-R1 deployment bursts to 90-100% of its tokens per minute every hour (a
rate-limit alert) and its provisioned gpt-4o-ptu reaches its PTUs' throughput once an hour (100%
utilization: throttled, a critical alert); a quiet tenant's deployments stay under a quarter of their
limits. A provisioned deployment's AzureOpenAIProvisionedManagedUtilizationV2 is the tokens it served
against what its PTUs serve, in percent to two places.

Costs are billed on the account, one meter per model, token kind and deployment type, spelled as
Azure spells them ("gpt-4o-mini-0718-Inp-glbl Tokens", "R1 Outp glbl Tokens"). Their truth names
the model of each meter and the project the account belongs to: its only Foundry project, the
project its `costwatch-project` tag names, else unattributed (two projects share the account).
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from . import catalog, traffic
from .costs import UNATTRIBUTED, CostSource, MeterSpec
from .inventory import ATTRIBUTION_TAG
from .metrics import FOUNDRY_NAMESPACE
from .quota import FOUNDRY_PROVIDER as PROVIDER
from .quota import Usage

JSON = dict[str, Any]
ACCOUNT_TYPE = f"{PROVIDER}/accounts"
ACCOUNT_LIMIT = 200  # Cognitive Services accounts per subscription and region (ListUsages.json)


@dataclass(frozen=True)
class Model:
    name: str
    format: str  # OpenAI | Meta | DeepSeek | Mistral AI
    version: str
    meter_prefix: str  # how its meters begin
    usd_input: Decimal  # per 1M tokens
    usd_output: Decimal
    daily_m_input: int  # millions of input tokens on a weekday
    usd_cached: Decimal | None = None


MODELS = {
    m.name: m
    for m in (
        Model("gpt-4o", "OpenAI", "2024-11-20", "gpt-4o-1120", Decimal("2.5"), Decimal("10"), 40, Decimal("1.25")),
        Model("gpt-4o-mini", "OpenAI", "2024-07-18", "gpt-4o-mini-0718", Decimal("0.15"), Decimal("0.6"), 200),
        Model("Llama-3.3-70B-Instruct", "Meta", "5", "Llama-3.3-70B-Instruct", Decimal("0.71"), Decimal("0.71"), 60),
        Model("DeepSeek-R1", "DeepSeek", "1", "R1", Decimal("1.35"), Decimal("5.4"), 12),
        Model("Mistral-Large-2411", "Mistral AI", "2", "Mistral-Large-2411", Decimal("2"), Decimal("6"), 8),
    )
}
# The deployment type a meter names: global, data zone, regional.
_METER_TYPE = {"GlobalStandard": "glbl", "DataZoneStandard": "DZone", "Standard": "regnl"}
# Provisioned throughput is billed per PTU and hour on one meter per deployment type, whatever the
# model: "Provisioned Managed Global Unit" at USD 1.00, Data Zone 1.10, Regional 2.00 (the Azure
# Reservation product names of Learn's provisioned-throughput onboarding page, and the retail prices).
PTU_METERS = {
    "GlobalProvisionedManaged": ("Provisioned Managed Global Unit", Decimal("1.00")),
    "DataZoneProvisionedManaged": ("Provisioned Managed Data Zone Unit", Decimal("1.10")),
    "ProvisionedManaged": ("Provisioned Managed Regional Unit", Decimal("2.00")),
}


@dataclass(frozen=True)
class FoundryDeployment:
    name: str
    model: str
    sku: str  # GlobalStandard | DataZoneStandard | Standard | GlobalProvisionedManaged | ...
    capacity: int  # thousands of TPM, or PTUs

    @property
    def provisioned(self) -> bool:
        return "Provisioned" in self.sku

    @property
    def usage_name(self) -> str:
        model = MODELS[self.model]
        family = "OpenAI" if model.format == "OpenAI" else "AIServices"
        return f"{family}.{self.sku}" if self.provisioned else f"{family}.{self.sku}.{model.name}"

    def rate_limits(self) -> list[JSON]:
        limits = [{"key": "request", "renewalPeriod": 10, "count": self.capacity}]
        if not self.provisioned:
            limits.append({"key": "token", "renewalPeriod": 60, "count": self.capacity * 1000})
        return limits


METRICS_NAMESPACE = FOUNDRY_NAMESPACE
DIMENSION = "ModelDeploymentName"
_PTU_TPM = 2_500  # tokens per minute a PTU serves, about (gpt-4o's input): a provisioned deployment's cap


def utilization(d: FoundryDeployment, total_tokens: list[int]) -> list[float]:
    """A provisioned deployment's PTU utilization per minute, in percent to two places: the tokens it
    served against what its PTUs serve (Azure: PTUs consumed / PTUs deployed x 100)."""
    return [round(tokens * 100 / (d.capacity * _PTU_TPM), 2) for tokens in total_tokens]


@dataclass(frozen=True)
class FoundryAccount:
    subscription_id: str
    resource_group: str
    name: str
    kind: str  # AIServices | OpenAI | ComputerVision (not a model account)
    location: str
    tags: tuple[tuple[str, str], ...] = ()
    projects: tuple[str, ...] = ()
    deployments: tuple[FoundryDeployment, ...] = ()
    # The hub (or project) whose connection uses it, and the projects that reaches (filled in from the
    # tenant's workspaces when it is generated).
    connected_from: str = ""
    connected_projects: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        group = f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
        return f"{group}/providers/{ACCOUNT_TYPE}/{self.name}"

    @property
    def expected_project(self) -> str:
        """The project the ground truth files the account's costs under."""
        tagged = dict(self.tags).get(ATTRIBUTION_TAG)
        if tagged:
            return tagged
        candidates = {*self.projects, *self.connected_projects}
        return candidates.pop() if len(candidates) == 1 else UNATTRIBUTED

    def connection_json(self, workspace_id: str) -> JSON:
        """The connection of `workspace_id` to this resource, as workspaces/{ws}/connections lists it: the
        REST spec's WorkspaceConnection shape (2025-09-01 examples), with the metadata a hub's Azure OpenAI
        connection carries (ApiType, ResourceId) and no credentials (a list never returns them)."""
        name = f"{self.name}_aoai"
        return {
            "id": f"{workspace_id}/connections/{name}",
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/connections",
            "properties": {
                "category": "AzureOpenAI" if self.kind == "OpenAI" else "AIServices",
                "target": f"https://{self.name}.openai.azure.com/",
                "authType": "AAD",
                "isSharedToAll": True,
                "metadata": {"ApiType": "Azure", "ResourceId": self.id, "ApiVersion": "2024-10-21"},
            },
        }


def accounts(prod: str, eu: str) -> list[FoundryAccount]:
    """The Foundry resources of the seeded tenant: in the prod subscription a Foundry resource with one
    project and every deployment family, an Azure OpenAI resource tagged for a hub project, one a hub
    uses through its connection (so its only project's) and a
    Computer Vision resource (not a model account); in the EU one a Foundry resource whose two
    projects share it, so its costs stay unattributed with the reason."""
    east, sweden = catalog.EASTUS2, catalog.SWEDENCENTRAL
    return [
        FoundryAccount(
            prod,
            "rg-foundry-prod",
            "aif-contoso-prod",
            "AIServices",
            east,
            projects=("assistant",),
            deployments=(
                FoundryDeployment("gpt-4o", "gpt-4o", "GlobalStandard", 450),
                FoundryDeployment("gpt-4o-mini", "gpt-4o-mini", "GlobalStandard", 300),
                FoundryDeployment("Llama-3.3-70B-Instruct", "Llama-3.3-70B-Instruct", "GlobalStandard", 100),
                FoundryDeployment("DeepSeek-R1", "DeepSeek-R1", "GlobalStandard", 50),
                FoundryDeployment("gpt-4o-ptu", "gpt-4o", "GlobalProvisionedManaged", 15),
            ),
        ),
        FoundryAccount(
            prod,
            "rg-ai-hub-eastus2",
            "oai-contoso-chatbot",
            "OpenAI",
            east,
            tags=((ATTRIBUTION_TAG, "proj-chatbot"),),
            deployments=(FoundryDeployment("chat-mini", "gpt-4o-mini", "DataZoneStandard", 200),),
        ),
        FoundryAccount(prod, "rg-foundry-prod", "cv-contoso-ocr", "ComputerVision", east),
        FoundryAccount(
            prod,
            "rg-ai-hub-swedencentral",
            "oai-contoso-summarizer",
            "OpenAI",
            sweden,
            deployments=(FoundryDeployment("summarize-mini", "gpt-4o-mini", "DataZoneStandard", 100),),
            connected_from="hub-prod-swedencentral",  # a hub's connection, and the hub has one project
        ),
        FoundryAccount(
            eu,
            "rg-foundry-research",
            "aif-contoso-research",
            "AIServices",
            sweden,
            projects=("research-a", "research-b"),
            deployments=(
                FoundryDeployment("gpt-4o-mini", "gpt-4o-mini", "GlobalStandard", 100),
                FoundryDeployment("Mistral-Large-2411", "Mistral-Large-2411", "GlobalStandard", 50),
            ),
        ),
    ]


# --- traffic ---------------------------------------------------------------------------------


def traffic_profile(
    seed: int, account: FoundryAccount, d: FoundryDeployment, start: datetime, quiet: bool
) -> traffic.Profile:
    """The traffic parameters of a deployment: its limits, and a peak at a share of them."""
    rng = random.Random(f"{seed}|foundry-traffic|{account.id.lower()}/{d.name.lower()}")
    tpm_limit = d.capacity * (_PTU_TPM if d.provisioned else 1000)
    rpm_limit = d.capacity * 6
    hot = d.model == "DeepSeek-R1" and not quiet
    # The provisioned deployment reaches its PTUs' throughput once an hour: 100% utilization, throttled.
    shape = "normal" if quiet else "tokens_hot" if hot else "throttled" if d.provisioned else "normal"
    tokens_per_request = rng.randint(600, 1400)
    share = traffic.QUIET_PEAK_SHARE if quiet else rng.uniform(0.2, traffic.PEAK_SHARE)
    peak_tpm = 0.55 * tpm_limit if hot else share * tpm_limit
    return traffic.Profile(
        key=rng.getrandbits(64),
        shape=shape,
        start_minute=traffic.epoch_minute(start),
        peak_minute=traffic.peak_minute(account.location),
        peak_rpm=min(peak_tpm / tokens_per_request, rpm_limit * share),
        tokens_per_request=tokens_per_request,
        output_share=rng.uniform(0.18, 0.3),
        tpm_limit=tpm_limit,
        rpm_limit=rpm_limit,
    )


# --- wire format ------------------------------------------------------------------------------


def _etag(resource_id: str) -> str:
    return f'"{uuid.UUID(int=random.Random(resource_id.lower()).getrandbits(128), version=4)}"'


def account_json(a: FoundryAccount) -> JSON:
    host = f"{a.name}.cognitiveservices.azure.com"
    return {
        "id": a.id,
        "name": a.name,
        "type": ACCOUNT_TYPE,
        "location": a.location,
        "kind": a.kind,
        "sku": {"name": "S0"},
        "tags": dict(a.tags),
        "etag": _etag(a.id),
        "properties": {"endpoint": f"https://{host}/", "provisioningState": "Succeeded"},
    }


def project_json(a: FoundryAccount, name: str) -> JSON:
    return {
        "id": f"{a.id}/projects/{name}",
        "name": f"{a.name}/{name}",
        "type": f"{ACCOUNT_TYPE}/projects",
        "location": a.location,
        "tags": {},
        "etag": _etag(f"{a.id}/projects/{name}"),
        "properties": {
            "provisioningState": "Succeeded",
            "displayName": name,
            "description": f"Foundry project {name}",
            "endpoints": {
                "AI Foundry API": f"https://{a.name}.services.ai.azure.com/api/projects/{name}",
                "OpenAI Language Model Instance API": f"https://{a.name}.openai.azure.com/",
                "OpenAI Dall-E API": f"https://{a.name}.openai.azure.com/",
            },
            "isDefault": name == a.projects[0],
        },
    }


def deployment_json(a: FoundryAccount, d: FoundryDeployment) -> JSON:
    model = MODELS[d.model]
    return {
        "id": f"{a.id}/deployments/{d.name}",
        "name": d.name,
        "type": f"{ACCOUNT_TYPE}/deployments",
        "sku": {"name": d.sku, "capacity": d.capacity},
        "properties": {
            "model": {"format": model.format, "name": model.name, "version": model.version},
            "provisioningState": "Succeeded",
            "rateLimits": d.rate_limits(),
        },
    }


# --- quota ------------------------------------------------------------------------------------


def usages(all_accounts: list[FoundryAccount], subscription_id: str, location: str, quiet: bool) -> list[Usage]:
    """The Cognitive Services usages of one subscription and region: each deployment type and model's
    capacity in use against its limit, and the account count. In the default tenant gpt-4o's global
    quota is at 90% (an alert); in a quiet one every line is under half its limit."""
    sub, region = subscription_id.lower(), location.lower()
    here = [a for a in all_accounts if a.subscription_id.lower() == sub and a.location.lower() == region]
    if not here:
        return []
    used: dict[str, int] = defaultdict(int)
    for a in here:
        for d in a.deployments:
            used[d.usage_name] += d.capacity
    lines = [
        Usage(sub, region, PROVIDER, "AccountCount", "Cognitive Services total account limit", len(here), ACCOUNT_LIMIT)
    ]
    for name, current in sorted(used.items()):
        limit = 500 if name == "OpenAI.GlobalStandard.gpt-4o" and not quiet else max(1000, current * 3)
        unit = "Provisioned Throughput Units" if "Provisioned" in name else "Tokens Per Minute (thousands)"
        lines.append(Usage(sub, region, PROVIDER, name, f"{unit} - {name.split('.', 1)[1]}", current, limit))
    return lines


# --- costs ------------------------------------------------------------------------------------


def _meter_id(meter: str) -> str:
    return str(uuid.UUID(int=random.Random(f"meter|foundry|{meter}").getrandbits(128), version=4))


def _meter(name: str, usd: Decimal, millions: int, currency: str, model: Model) -> MeterSpec:
    subcategory = "Azure OpenAI" if model.format == "OpenAI" else "Foundry Models"
    return MeterSpec(
        name, _meter_id(name), "Foundry Models", subcategory, "1M", catalog.local_price(usd, currency), millions * 1000
    )


def _separator(model: Model) -> str:
    return " " if model.meter_prefix == "R1" else "-"  # "R1 Inp glbl Tokens", as Azure writes it


def _ptu_meters(a: FoundryAccount, currency: str) -> tuple[list[MeterSpec], dict[str, str]]:
    """Each provisioned deployment type's PTU hours, 24 a day per PTU; its truth names the model when
    one model holds all of that type's PTUs on the account (else the meter's spend has no model)."""
    ptus: dict[str, int] = defaultdict(int)
    models: dict[str, set[str]] = defaultdict(set)
    for d in a.deployments:
        if d.provisioned:
            ptus[d.sku] += d.capacity
            models[d.sku].add(d.model)
    meters: list[MeterSpec] = []
    meter_models: dict[str, str] = {}
    for sku, capacity in sorted(ptus.items()):
        name, usd = PTU_METERS[sku]
        price = catalog.local_price(usd, currency)
        meters.append(
            MeterSpec(name, _meter_id(name), "Foundry Models", "Azure OpenAI", "1 Hour", price, capacity * 24_000, True)
        )
        if len(models[sku]) == 1:
            meter_models[name] = next(iter(models[sku]))
    return meters, meter_models


def cost_source(a: FoundryAccount, currency: str, start: date, seed: int) -> CostSource:
    """The account's daily costs: input and output tokens (cached input for gpt-4o) per standard
    deployment, each meter naming its model, and PTU hours per provisioned deployment type; a
    non-model account bills its own transactions."""
    meters, meter_models = _ptu_meters(a, currency)
    scale = random.Random(f"{seed}|foundry|{a.id.lower()}").uniform(0.6, 1.4)
    for d in a.deployments:
        if d.provisioned:
            continue
        model = MODELS[d.model]
        sep, kind = _separator(model), _METER_TYPE[d.sku]
        volume = max(int(model.daily_m_input * scale * d.capacity / 100), 1)
        made = [
            _meter(f"{model.meter_prefix}{sep}Inp{sep}{kind} Tokens", model.usd_input, volume, currency, model),
            _meter(
                f"{model.meter_prefix}{sep}Outp{sep}{kind} Tokens",
                model.usd_output,
                max(volume // 5, 1),
                currency,
                model,
            ),
        ]
        if model.usd_cached is not None:
            made.append(
                _meter(
                    f"{model.meter_prefix}{sep}cached{sep}Inp{sep}{kind} Tokens",
                    model.usd_cached,
                    volume // 4,
                    currency,
                    model,
                )
            )
        for meter in made:
            meters.append(meter)
            meter_models[meter.name] = model.name
    model_account = bool(a.deployments)
    if not model_account:
        price = catalog.local_price(Decimal("1"), currency)
        meters.append(
            MeterSpec(
                "S1 Transactions",
                _meter_id("S1 Transactions"),
                "Cognitive Services",
                "Computer Vision",
                "1K",
                price,
                40_000,
            )
        )
    return CostSource(
        subscription_id=a.subscription_id,
        resource_id=a.id.lower(),
        resource_group=a.resource_group.lower(),
        resource_type=ACCOUNT_TYPE.lower(),
        location=a.location,
        publisher_type="Azure",
        service_name="Foundry Models" if model_account else "Cognitive Services",
        currency=currency,
        meters=tuple(meters),
        active_from=start,
        active_to=None,
        spend_kind="foundry" if model_account else "other",
        project=a.expected_project if model_account else None,
        model=None,
        meter_models=meter_models,
    )
