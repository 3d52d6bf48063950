"""A FOCUS 1.2 cost-and-usage CSV of the month: the columns costwatch can fill, one row per cost row.

Which columns are filled and how is in docs/reports.md (keep the two in step). Columns the store cannot
fill truthfully (ListCost, ContractedCost, BillingAccountId, commitment discounts, prices, ...) are left
out rather than guessed. Values follow the FOCUS formats: date-times as ISO 8601 UTC
(`2026-10-01T00:00:00Z`), decimals as plain numbers without exponent, nulls as empty fields, Tags as a
JSON object with sorted keys. No timestamp of the generation: the same store gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import BinaryIO

from collector.periods import add_months, month_end
from collector.read.monthly_report import DetailRow, MonthlyReport
from collector.reports.text import plain
from collector.units import HOURS, TOKENS, TOKENS_1K, TOKENS_1M, token_type

FOCUS_VERSION = "1.2"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # Decimal | String | DateTime | JSON (the FOCUS data types)
    nullable: bool


COLUMNS: tuple[Column, ...] = (
    Column("BilledCost", "Decimal", False),
    Column("BillingCurrency", "String", False),
    Column("BillingPeriodEnd", "DateTime", False),
    Column("BillingPeriodStart", "DateTime", False),
    Column("ChargeCategory", "String", False),
    Column("ChargeClass", "String", True),
    Column("ChargeDescription", "String", True),
    Column("ChargeFrequency", "String", False),
    Column("ChargePeriodEnd", "DateTime", False),
    Column("ChargePeriodStart", "DateTime", False),
    Column("ConsumedQuantity", "Decimal", True),
    Column("ConsumedUnit", "String", True),
    Column("EffectiveCost", "Decimal", False),
    Column("InvoiceIssuerName", "String", False),
    Column("PricingQuantity", "Decimal", True),
    Column("PricingUnit", "String", True),
    Column("ProviderName", "String", False),
    Column("PublisherName", "String", True),
    Column("RegionId", "String", True),
    Column("ResourceId", "String", True),
    Column("ResourceName", "String", True),
    Column("ResourceType", "String", True),
    Column("ServiceCategory", "String", False),
    Column("ServiceName", "String", False),
    Column("ServiceSubcategory", "String", False),
    Column("SkuMeter", "String", True),
    Column("SubAccountId", "String", False),
    Column("SubAccountName", "String", True),
    Column("SubAccountType", "String", False),
    Column("Tags", "JSON", True),
    Column("x_ChargeType", "String", False),
    Column("x_CostCenter", "String", True),
    Column("x_CostType", "String", False),
    Column("x_DataStatus", "String", False),
    Column("x_Model", "String", True),
    Column("x_Project", "String", False),
    Column("x_ResourceGroupName", "String", True),
    Column("x_SkuMeterCategory", "String", True),
    Column("x_SkuMeterId", "String", True),
    Column("x_SkuMeterSubcategory", "String", True),
    Column("x_TokenType", "String", True),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)

# FOCUS ConsumedUnit / PricingUnit, by costwatch's unit: "<count> <plural unit>" as the spec's unit format
# recommends. The quantity is kept as Azure states it (in the meter's unit), never rescaled; a meter of
# unknown unit has none (collector.units).
_FOCUS_UNITS = {TOKENS_1K: "1000 Tokens", TOKENS_1M: "1000000 Tokens", TOKENS: "Tokens", HOURS: "Hours"}
_AZURE_TO_CATEGORY = {"usage": "Usage", "purchase": "Purchase", "tax": "Tax", "credit": "Credit"}
_SERVICE = {
    # spend kind -> (ServiceName, ServiceSubcategory)
    "marketplace": ("Azure AI Foundry Models", "Generative AI"),
    # Billed by Microsoft on the Foundry resource (Cost Management's serviceName "Foundry Models")
    "foundry": ("Foundry Models", "Generative AI"),
    "managed_compute": ("Azure Machine Learning", "Machine Learning"),
    "": ("Azure AI Foundry Models", "Generative AI"),  # a resource not attributed yet: counted as AI spend
}


def charge_category(row: DetailRow) -> str:
    """FOCUS ChargeCategory from Azure's ChargeType. A usage refund is Usage with a negative cost and
    quantity ("Usage ... including refunds" in FOCUS 1.2); a row FOCUS needs as Usage but without a
    quantity (PricingQuantity must not be null for Usage) and any other charge type is an Adjustment."""
    kind = row.charge_type.lower()
    if kind in ("usage", "refund"):
        return "Usage" if row.quantity is not None else "Adjustment"
    return _AZURE_TO_CATEGORY.get(kind, "Adjustment")


def _datetime(day: date) -> str:
    return f"{day:%Y-%m-%d}T00:00:00Z"


def focus_record(report: MonthlyReport, row: DetailRow) -> dict[str, str]:
    category = charge_category(row)
    usage = category == "Usage"
    unit = _FOCUS_UNITS.get(row.unit, "")
    service, subcategory = _SERVICE.get(row.spend_kind, _SERVICE[""])
    if row.spend_kind == "managed_compute":
        description = f"{row.meter} ({row.meter_category or 'compute'}) of {row.resource_name} in {row.project}"
    else:
        description = f"{row.meter} of {row.model}" if row.model else row.meter
    return {
        "BilledCost": plain(row.cost),
        "BillingCurrency": row.currency,
        "BillingPeriodEnd": _datetime(add_months(report.month, 1)),
        "BillingPeriodStart": _datetime(report.month),
        "ChargeCategory": category,
        "ChargeClass": "",  # every row is in its own billing period: never a correction of a closed one
        "ChargeDescription": description,
        "ChargeFrequency": "One-Time" if category == "Purchase" else "Usage-Based",
        "ChargePeriodEnd": _datetime(row.usage_date + timedelta(days=1)),
        "ChargePeriodStart": _datetime(row.usage_date),
        "ConsumedQuantity": plain(row.quantity) if usage else "",
        "ConsumedUnit": unit if usage and row.quantity is not None and unit else "",
        "EffectiveCost": plain(row.cost),
        "InvoiceIssuerName": "Microsoft",
        "PricingQuantity": plain(row.quantity) if usage else "",
        "PricingUnit": unit if usage and row.quantity is not None and unit else "",
        "ProviderName": "Microsoft",
        "PublisherName": row.publisher,
        "RegionId": row.region,
        "ResourceId": row.resource_id,
        "ResourceName": row.resource_name,
        "ResourceType": row.resource_type,
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": service,
        "ServiceSubcategory": subcategory,
        "SkuMeter": row.meter,
        "SubAccountId": row.subscription_id,
        "SubAccountName": row.subscription_name,
        "SubAccountType": "Subscription",
        "Tags": "" if row.tags is None else json.dumps(row.tags, sort_keys=True, separators=(",", ":")),
        "x_ChargeType": row.charge_type,
        "x_CostCenter": row.cost_center,
        "x_CostType": row.cost_type,
        "x_DataStatus": report.data_status,
        "x_Model": row.model,
        "x_Project": row.project,
        "x_ResourceGroupName": row.resource_group,
        "x_SkuMeterCategory": row.meter_category,
        "x_SkuMeterId": row.meter_id,
        "x_SkuMeterSubcategory": row.meter_subcategory,
        "x_TokenType": token_type(row.meter),
    }


def write_focus(report: MonthlyReport, rows: Iterable[DetailRow], out: BinaryIO) -> None:
    """The FOCUS CSV of the report's month from its detail rows (see monthly.detail_rows), written as
    the rows come: the file of a large tenant's month is hundreds of megabytes."""
    last = month_end(report.month)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
    try:
        writer = csv.DictWriter(text, fieldnames=COLUMN_NAMES, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            if not report.month <= row.usage_date <= last:
                raise ValueError(f"a cost row of {row.usage_date} is not in {report.label}")
            writer.writerow(focus_record(report, row))
        text.flush()
    finally:
        text.detach()  # the caller's file stays open


def render_focus(report: MonthlyReport, rows: Iterable[DetailRow]) -> bytes:
    """`write_focus` into bytes."""
    out = io.BytesIO()
    write_focus(report, rows, out)
    return out.getvalue()
