"""Odd rows from the Query API: kept when they can be, counted and logged with a reason when not."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from collector.azure.cost_query import QueryPage
from collector.settings import CostSettings
from collector.sources import costs

COLUMNS = [
    "Cost",
    "UsageQuantity",
    "ResourceId",
    "Meter",
    "MeterId",
    "MeterCategory",
    "ChargeType",
    "UsageDate",
    "Currency",
]
CHUNK = costs.Chunk("/subscriptions/s", "s", date(2026, 10, 1), date(2026, 10, 31))
RID = "/subscriptions/S/resourceGroups/RG/providers/Microsoft.SaaS/resources/Offer-1"


def row(**overrides: Any) -> list[Any]:
    values = {
        "Cost": Decimal("1.25"),
        "UsageQuantity": Decimal("10"),
        "ResourceId": RID,
        "Meter": "paygo-inference-input-tokens",
        "MeterId": "m-1",
        "MeterCategory": "SaaS",
        "ChargeType": "Usage",
        "UsageDate": 20261015,
        "Currency": "USD",
        **overrides,
    }
    return [values[c] for c in COLUMNS]


def parse(*rows: list[Any], columns: list[str] = COLUMNS) -> costs.ParsedRows:
    return costs.parse_pages([QueryPage(columns, list(rows))], CHUNK, CostSettings(), date(2026, 11, 25), "test")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1.25"), Decimal("1.25")),
        (3, Decimal(3)),
        ("2.50", Decimal("2.50")),
        (0.1, Decimal("0.1")),
        (Decimal("-4.2"), Decimal("-4.2")),
        (Decimal("1e12"), Decimal("1e12")),
    ],
)
def test_costs_are_exact_whatever_their_json_form(value: Any, expected: Decimal) -> None:
    parsed = parse(row(Cost=value))
    assert [r["cost"] for r in parsed.rows.values()] == [expected]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"Cost": None}, "cost is not a number"),
        ({"Cost": "n/a"}, "cost is not a number"),
        ({"Cost": True}, "cost is not a number"),
        ({"Cost": "NaN"}, "cost is not a number"),
        ({"UsageDate": "yesterday"}, "UsageDate is not a date"),
        ({"UsageDate": 20261301}, "UsageDate is not a date"),
        ({"UsageDate": 20260930}, "outside the requested"),
        ({"Currency": "dollars"}, "3-letter"),
        ({"Currency": None}, "3-letter"),
    ],
)
def test_bad_rows_are_counted_with_a_reason(overrides: dict[str, Any], reason: str, caplog) -> None:
    caplog.set_level(logging.WARNING)
    parsed = parse(row(**overrides), row(Meter="other"))
    assert parsed.rejected == 1 and len(parsed.rows) == 1
    assert any(reason in r for r in parsed.reasons)
    assert reason in caplog.text


def test_dates_in_their_other_forms() -> None:
    for value in ("20261015", "2026-10-15T00:00:00", "2026-10-15T00:00:00Z", Decimal("20261015")):
        assert [r["usage_date"] for r in parse(row(UsageDate=value)).rows.values()] == [date(2026, 10, 15)]


def test_a_row_sent_twice_is_kept_once(caplog) -> None:
    caplog.set_level(logging.WARNING)
    pages = [QueryPage(COLUMNS, [row()]), QueryPage(COLUMNS, [row()])]
    parsed = costs.parse_pages(pages, CHUNK, CostSettings(), date(2026, 11, 25), "test")
    assert len(parsed.rows) == 1 and parsed.duplicates == 1
    assert "came twice" in caplog.text


def test_columns_in_any_order_and_ids_lower_cased() -> None:
    order = list(reversed(COLUMNS))
    record = next(iter(parse(list(reversed(row())), columns=order).rows.values()))
    assert record["resource_id"] == RID.lower()
    assert (record["cost"], record["quantity"], record["currency"]) == (Decimal("1.25"), Decimal("10"), "USD")
    assert record["is_estimated"] is False  # October closed on November 5th


def test_open_month_days_are_estimated() -> None:
    parsed = costs.parse_pages([QueryPage(COLUMNS, [row()])], CHUNK, CostSettings(), date(2026, 11, 4), "test")
    assert [r["is_estimated"] for r in parsed.rows.values()] == [True]
