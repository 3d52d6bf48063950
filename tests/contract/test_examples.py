"""The collector's parsers read Azure's own example payloads (../shared/azure-examples) correctly."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from collector.azure.arm import AzureCallError
from collector.azure.cost_query import QueryPage
from collector.settings import CostSettings
from collector.sources import costs, inventory

WORKSPACE = "/subscriptions/s/resourcegroups/rg/providers/microsoft.machinelearningservices/workspaces/proj"


def body(examples: Path, name: str, status: str = "200") -> Any:
    return json.loads((examples / name).read_text(), parse_float=Decimal)["responses"][status]["body"]


def test_query_answers_map_columns_by_name_and_keep_exact_costs(examples: Path) -> None:
    answer = body(examples, "costmanagement-query-mca-billingprofile-nextlink.json")["properties"]
    # Azure's example groups by ResourceGroup; give it the ResourceId column costwatch groups by.
    columns = [c["name"] for c in answer["columns"]] + ["ResourceId"]
    rows = [[*row, f"/subscriptions/s/resourcegroups/{row[1]}"] for row in answer["rows"]]
    chunk = costs.Chunk("/subscriptions/s", "s", date(2018, 3, 1), date(2018, 3, 31))
    parsed = costs.parse_pages([QueryPage(columns, rows)], chunk, CostSettings(), date(2018, 5, 1), "example")
    assert parsed.rejected == 0
    records = list(parsed.rows.values())
    assert records[0]["usage_date"] == date(2018, 3, 31)
    assert records[0]["cost"] == Decimal("19.545363672276512")  # every digit Azure sent
    assert records[0]["resource_id"] == "/subscriptions/s/resourcegroups/japanunifia-trial"  # lower-cased
    assert {r["currency"] for r in records} == {"USD"}
    assert all(r["is_estimated"] is False for r in records)  # March 2018 closed long before May


def test_an_answer_without_the_needed_columns_is_a_clear_error(examples: Path) -> None:
    answer = body(examples, "costmanagement-query-subscription-grouping.json")["properties"]
    page = QueryPage([c["name"] for c in answer["columns"]], answer["rows"])
    chunk = costs.Chunk("/subscriptions/s", "s", date(2026, 10, 1), date(2026, 10, 31))
    with pytest.raises(AzureCallError, match=r"expected columns .*UsageDate.*the answer has \['PreTaxCost'"):
        costs.parse_pages([page], chunk, CostSettings(), date(2026, 11, 1), "example")


def test_the_204_example_has_no_body(examples: Path) -> None:
    raw = json.loads((examples / "costmanagement-query-subscription.json").read_text())
    assert raw["responses"]["204"] == {}  # the SDK returns None; costwatch treats it as "no rows"


@pytest.mark.parametrize(
    ("name", "offer", "plan", "publisher", "shown"),
    [
        # 2026-04-01's offerName/planName are display names, "server-resolved from ProductCode": never IDs.
        ("saas-resource-get-2026-04-01.json", "", "", "", "SaaS Offer"),
        ("saas-resource-get-2018-03-01-beta.json", "contosoOffer", "free", "microsoft-contoso", ""),
    ],
)
def test_saas_resources_of_both_api_versions(
    examples: Path, name: str, offer: str, plan: str, publisher: str, shown: str
) -> None:
    row = inventory.parse_saas_resource(body(examples, name), "s")
    assert row is not None
    assert (row["offer"], row["plan"], row["publisher"], row["status"]) == (offer, plan, publisher, "Subscribed")
    assert row["offer_name"] == shown
    assert row["resource_id"] == row["resource_id"].lower()
    assert row["resource_group"] in ("myresourcegroup", "my-saas-rg")


def test_saas_offer_falls_back_to_the_name_without_its_guid() -> None:
    assert inventory.offer_of("meta-llama-3-8b-instruct-offer-0f8fad5b-d9cb-469f-a165-70867728950e", {}) == (
        "meta-llama-3-8b-instruct-offer",
        inventory.OFFER_FROM_NAME,
    )


@pytest.mark.parametrize("version", ["2025-09-01", "2025-12-01"])
def test_marketplace_subscriptions(examples: Path, version: str) -> None:
    item = body(examples, f"ml-marketplacesubscription-get-{version}.json")
    assert inventory.parse_marketplace_subscription(item, WORKSPACE) is None  # the example's id is "string"
    row = inventory.parse_marketplace_subscription({**item, "id": f"{WORKSPACE}/marketplaceSubscriptions/m"}, WORKSPACE)
    assert row is not None
    assert row["status"] == item["properties"]["marketplaceSubscriptionStatus"]
    assert row["offer_id"] == item["properties"]["marketplacePlan"]["offerId"]
    assert row["model_id"] == item["properties"]["modelId"]


@pytest.mark.parametrize("version", ["2025-09-01", "2025-12-01"])
def test_serverless_endpoints(examples: Path, version: str) -> None:
    item = body(examples, f"ml-serverlessendpoint-get-{version}.json")
    row = inventory.parse_serverless_endpoint({**item, "id": f"{WORKSPACE}/serverlessEndpoints/e"}, WORKSPACE)
    assert row is not None
    assert row["endpoint_state"] == item["properties"]["endpointState"]
    assert row["model_id"] == item["properties"]["modelSettings"]["modelId"]


def test_list_examples_parse_item_by_item(examples: Path) -> None:
    listed = body(examples, "saas-resource-list-by-subscription-2026-04-01.json")["value"]
    rows = [inventory.parse_saas_resource(item, "s") for item in listed]
    assert [r["name"] for r in rows if r] == ["mySaasResource"]


def test_a_cost_in_exponent_form_is_read_exactly() -> None:
    # Real answers write small costs as 1.5E-05 (azure-cli-extensions recording
    # test_data_grouping_in_subscription_scopde.yaml @ 739e0151); the emulator writes them alike.
    from emulator.wire import dumps

    page = QueryPage(
        ["PreTaxCost", "UsageDate", "ResourceId", "Currency"],
        json.loads(
            dumps([[Decimal("0.000015"), 20261001, "/subscriptions/s/resourcegroups/rg", "USD"]]), parse_float=Decimal
        ),
    )
    assert b"1.5E-05" in dumps([Decimal("0.000015")])
    chunk = costs.Chunk("/subscriptions/s", "s", date(2026, 10, 1), date(2026, 10, 31))
    parsed = costs.parse_pages([page], chunk, CostSettings(), date(2026, 12, 1), "example")
    assert [r["cost"] for r in parsed.rows.values()] == [Decimal("0.000015")]


def test_the_recorded_query_without_resource_ids_is_rejected_clearly(contract: Path) -> None:
    # Source: Azure/azure-cli-extensions test_data_aggregation_in_subscription_scope_custome_timeframe.yaml
    # (a real 2020 session): columns PreTaxCost, UsageDate, Currency; costwatch needs a ResourceId.
    from tests.contract.conftest import recorded_interactions, recorded_json

    name = "azure-cli-extensions_test_data_aggregation_in_subscription_scope_custome_timeframe.yaml"
    query = next(
        i for i in recorded_interactions(contract / "costmanagement", name) if i["request"]["method"] == "POST"
    )
    answer = recorded_json(query)["properties"]
    page = QueryPage([c["name"] for c in answer["columns"]], answer["rows"])
    assert len(page.rows) == 70  # 70 days answered
    chunk = costs.Chunk("/subscriptions/s", "s", date(2020, 3, 1), date(2020, 3, 31))
    with pytest.raises(AzureCallError, match=r"expected columns .*ResourceId"):
        costs.parse_pages([page], chunk, CostSettings(), date(2020, 5, 23), "recorded")
