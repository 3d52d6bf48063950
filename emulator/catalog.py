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
STORAGE_METERS: tuple[tuple[str, str, Decimal, int], ...] = (
    # meter, subcategory, USD unit price, typical daily quantity in thousandths of a unit
    ("Hot LRS Data Stored", "Tiered Block Blob", Decimal("0.00068"), 812_500),
    ("Hot Read Operations", "Tiered Block Blob", Decimal("0.00044"), 2_350_000),
)
