"""Static facts the synthetic tenant is built from: regions, the model catalogue, prices.

Prices are per billing unit (1K tokens, or one hour) with at most 5 decimal places and
quantities carry at most 3, so every cost is an exact Decimal with at most 8 places; a
restatement multiplies by (100 + version) / 100, which adds at most 2 more (see costs.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

EASTUS2 = "eastus2"
SWEDENCENTRAL = "swedencentral"
WESTUS3 = "westus3"
REGIONS: tuple[str, ...] = (EASTUS2, SWEDENCENTRAL, WESTUS3)

# Billing-currency conversion for the EUR subscription. Prices are rounded to 5 places
# after conversion so the exactness budget above still holds.
EUR_PER_USD = Decimal("0.92")
PRICE_QUANTUM = Decimal("0.00001")

METER_INPUT = "paygo-inference-input-tokens"
METER_OUTPUT = "paygo-inference-output-tokens"
METER_FT_HOSTING = "paygo-finetuned-model-inference-hosting"
METER_FT_INPUT = "paygo-finetuned-model-inference-input-tokens"
METER_FT_OUTPUT = "paygo-finetuned-model-inference-output-tokens"
MARKETPLACE_METERS: tuple[str, ...] = (
    METER_INPUT,
    METER_OUTPUT,
    METER_FT_HOSTING,
    METER_FT_INPUT,
    METER_FT_OUTPUT,
)


@dataclass(frozen=True)
class CatalogModel:
    """One Marketplace model offer as AI Studio shows it."""

    name: str  # the model name, last segment of the registry model ID
    registry: str
    publisher_id: str
    offer_id: str  # lower-case, as in marketplacePlan.offerId
    plan_id: str
    regions: tuple[str, ...]
    input_price: Decimal  # USD per 1K input tokens
    output_price: Decimal  # USD per 1K output tokens
    hosting_price: Decimal  # USD per hour of a fine-tuned deployment
    daily_kilo_tokens: int  # typical weekday input volume, in 1K tokens
    # Rate limits of one serverless deployment. 200K TPM / 1K RPM is the documented default;
    # some listings differ (e.g. 400K TPM for Llama 3.3 70B), hence per model.
    tpm_limit: int = 200_000
    rpm_limit: int = 1_000
    # What one unit of its token meters is: "1K", or "1M" for a plan billed per million tokens (the
    # prices above stay per 1K; the meter's price and quantity are scaled to the unit).
    token_unit: str = "1K"

    def model_id(self, version: int | None = None) -> str:
        base = f"azureml://registries/{self.registry}/models/{self.name}"
        return base if version is None else f"{base}/versions/{version}"


def _meta(name: str, regions: tuple[str, ...], inp: str, out: str, host: str, volume: int) -> CatalogModel:
    offer = f"{name.lower()}-offer"
    return CatalogModel(
        name=name,
        registry="azureml-meta",
        publisher_id="metagenai",
        offer_id=offer,
        plan_id=f"{name.lower()}-plan",
        regions=regions,
        input_price=Decimal(inp),
        output_price=Decimal(out),
        hosting_price=Decimal(host),
        daily_kilo_tokens=volume,
    )


_LLAMA3 = (EASTUS2, SWEDENCENTRAL)
_LLAMA2 = (EASTUS2, WESTUS3)

CATALOG: dict[str, CatalogModel] = {
    m.name: m
    for m in (
        _meta("Meta-Llama-3-8B-Instruct", _LLAMA3, "0.0003", "0.00061", "0.52", 42_000),
        _meta("Meta-Llama-3-70B-Instruct", _LLAMA3, "0.00268", "0.00354", "1.88", 18_000),
        _meta("Llama-2-7b", _LLAMA2, "0.00028", "0.00056", "0.74", 9_000),
        _meta("Llama-2-7b-chat", _LLAMA2, "0.00028", "0.00056", "0.74", 15_000),
        _meta("Llama-2-13b", _LLAMA2, "0.00081", "0.00094", "0.89", 7_000),
        _meta("Llama-2-13b-chat", _LLAMA2, "0.00081", "0.00094", "0.89", 11_000),
        _meta("Llama-2-70b", _LLAMA2, "0.00154", "0.00177", "1.62", 5_000),
        _meta("Llama-2-70b-chat", _LLAMA2, "0.00154", "0.00177", "1.62", 8_000),
        CatalogModel(
            name="Mistral-large",
            registry="azureml-mistral",
            publisher_id="000-000",
            offer_id="mistral-ai-large-offer",
            plan_id="mistral-large-2402-plan",
            regions=(EASTUS2, SWEDENCENTRAL),
            input_price=Decimal("0.004"),
            output_price=Decimal("0.012"),
            hosting_price=Decimal("0"),
            daily_kilo_tokens=6_000,
            token_unit="1M",  # a plan billed per million tokens (issue 19.7)
        ),
        CatalogModel(
            name="Cohere-command-r-plus",
            registry="azureml-cohere",
            publisher_id="cohere",
            offer_id="cohere-command-r-plus-offer",
            plan_id="cohere-command-r-plus-plan",
            regions=(EASTUS2, SWEDENCENTRAL),
            input_price=Decimal("0.003"),
            output_price=Decimal("0.015"),
            hosting_price=Decimal("0"),
            daily_kilo_tokens=4_000,
        ),
        CatalogModel(
            name="AI21-Jamba-1.5-Large",
            registry="azureml-ai21",
            publisher_id="ai21",
            offer_id="ai21-jamba-1-5-large-offer",
            plan_id="ai21-jamba-1-5-large-plan",
            regions=(EASTUS2, WESTUS3),
            input_price=Decimal("0.002"),
            output_price=Decimal("0.008"),
            hosting_price=Decimal("0"),
            daily_kilo_tokens=3_000,
        ),
    )
}


def local_price(usd: Decimal, currency: str) -> Decimal:
    """A USD list price in the subscription's billing currency, kept to 5 places."""
    if currency == "USD":
        return usd
    return (usd * EUR_PER_USD).quantize(PRICE_QUANTUM)


# Managed compute (an online endpoint on dedicated VMs) and plain Azure services, so the
# collector sees the non-Marketplace rows it has to keep apart.
MANAGED_COMPUTE_VM = "NC24ads A100 v4"
MANAGED_COMPUTE_VM_SERIES = "NCadsA100v4 Series"
MANAGED_COMPUTE_HOURLY_USD = Decimal("3.673")

# VM families as the quota APIs name them (`name.value`), with the label their
# localized names start with.
VM_FAMILIES: dict[str, str] = {
    "standardDSv2Family": "Standard DSv2 Family",
    "standardFSv2Family": "Standard FSv2 Family",
    "standardNCSv3Family": "Standard NCSv3 Family",
    "standardNCADSA100v4Family": "Standard NCADSA100v4 Family",
    "standardNDAMSA100v4Family": "Standard NDAMSA100v4 Family",
}


@dataclass(frozen=True)
class VmSize:
    """A VM size a managed deployment can run on: its quota family, cores and VM-hour meter."""

    name: str  # as in instanceType, e.g. Standard_NC24ads_A100_v4
    family: str  # a key of VM_FAMILIES
    cores: int
    meter: str
    series: str  # the cost rows' meter subcategory
    hourly_usd: Decimal


VM_SIZES: dict[str, VmSize] = {
    v.name: v
    for v in (
        VmSize("Standard_DS3_v2", "standardDSv2Family", 4, "DS3 v2", "DSv2 Series", Decimal("0.293")),
        VmSize("Standard_F8s_v2", "standardFSv2Family", 8, "F8s v2", "FSv2 Series", Decimal("0.338")),
        VmSize("Standard_NC6s_v3", "standardNCSv3Family", 6, "NC6s v3", "NCSv3 Series", Decimal("3.06")),
        VmSize("Standard_NC12s_v3", "standardNCSv3Family", 12, "NC12s v3", "NCSv3 Series", Decimal("6.12")),
        VmSize(
            "Standard_NC24ads_A100_v4",
            "standardNCADSA100v4Family",
            24,
            MANAGED_COMPUTE_VM,
            MANAGED_COMPUTE_VM_SERIES,
            MANAGED_COMPUTE_HOURLY_USD,
        ),
        VmSize(
            "Standard_ND96amsr_A100_v4",
            "standardNDAMSA100v4Family",
            96,
            "ND96amsr A100 v4",
            "NDamsrA100v4 Series",
            Decimal("32.77"),
        ),
    )
}
STORAGE_METERS: tuple[tuple[str, str, Decimal, int], ...] = (
    # meter, subcategory, USD unit price, typical daily quantity in thousandths of a unit
    ("Hot LRS Data Stored", "Tiered Block Blob", Decimal("0.00068"), 812_500),
    ("Hot Read Operations", "Tiered Block Blob", Decimal("0.00044"), 2_350_000),
)
