"""Inventory from Azure's SaaS and ML examples: offers are matched by ID, never by display name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector import attribution
from collector.settings import AttributionSettings
from collector.sources import inventory
from emulator import foundry as emulated
from tests.contract.conftest import spec_body
from tests.emulator.test_emulator_contract import assert_shape

SAAS = "saas"


def _saas(folder: Path, name: str) -> dict:
    item = spec_body(folder / SAAS, name)["value"][0]
    row = inventory.parse_saas_resource(item, item["id"].split("/")[2])
    assert row is not None
    return row


def test_2018_03_01_beta_gives_the_offer_id_with_publisher_and_plan(contract: Path) -> None:
    # Source: Microsoft.SaaS/preview/2018-03-01-beta/examples/saasSubscriptionLevel/SaasGetAllInAzureSubscription.json
    row = _saas(contract, "spec_2018-03-01-beta_SaasGetAllInAzureSubscription.json")
    assert (row["offer"], row["publisher"], row["plan"]) == ("contosoOffer", "microsoft-contoso", "free")
    assert row["offer_source"] == inventory.OFFER_FROM_OFFER_ID


def test_2026_04_01_display_names_are_not_taken_as_ids(contract: Path) -> None:
    # Source: Microsoft.SaaS/stable/2026-04-01/examples/SaasListBySubscription.json: offerName "SaaS Offer".
    row = _saas(contract, "spec_2026-04-01_SaasListBySubscription.json")
    assert row["offer_name"] == "SaaS Offer"
    assert (row["offer"], row["publisher"], row["plan"], row["offer_source"]) == ("", "", "", "")


def _attribute(saas: dict, held_offer: str) -> attribution.Attribution:
    group = f"/subscriptions/{saas['subscription_id']}/resourcegroups/{saas['resource_group']}"
    project = attribution.Project(
        f"{group}/providers/microsoft.machinelearningservices/workspaces/p",
        "p",
        saas["subscription_id"],
        saas["resource_group"],
    )
    info = attribution.SaasInfo(
        saas["resource_id"],
        saas["subscription_id"],
        saas["resource_group"],
        saas["name"],
        saas["offer"],
        {},
        saas["offer_source"],
        saas["publisher"],
        saas["plan"],
    )
    held = attribution.OfferSubscription(
        project.resource_id, held_offer, "azureml://registries/r/models/m/versions/1", "microsoft-contoso", "free"
    )
    return attribution.attribute([], [project], [info], [held], AttributionSettings())[0]


def test_an_offer_matched_by_id_names_the_property_that_gave_it(contract: Path) -> None:
    found = _attribute(_saas(contract, "spec_2018-03-01-beta_SaasGetAllInAzureSubscription.json"), "contosooffer")
    assert (found.project, found.model, found.rule) == ("p", "m", "offer-match")
    assert inventory.OFFER_FROM_OFFER_ID in found.detail


def test_a_display_name_never_matches_a_project_offer(contract: Path) -> None:
    # A project subscribed to an offer whose ID reads like the display name still does not match it.
    found = _attribute(_saas(contract, "spec_2026-04-01_SaasListBySubscription.json"), "SaaS Offer")
    assert (found.project, found.rule) == (attribution.UNATTRIBUTED, "no-candidate")
    assert "no offer ID" in found.detail


def test_a_different_plan_of_the_same_offer_is_not_a_match(contract: Path) -> None:
    row = _saas(contract, "spec_2018-03-01-beta_SaasGetAllInAzureSubscription.json")
    found = _attribute({**row, "plan": "paid"}, "contosoOffer")
    assert found.rule == "no-candidate"


def test_connections_of_the_spec_example_reach_no_model_resource() -> None:
    """The spec's connections list (ContainerRegistry, tests/contract/ml/README.md): none is a model's,
    so none names a project's costs; the emulator's Azure OpenAI connection has the example's shape."""
    here = Path(__file__).parent / "ml"
    body = json.loads((here / "spec_2025-09-01_WorkspaceConnection_list.json").read_text())
    items = body["responses"]["200"]["body"]["value"]
    workspace = "/subscriptions/s/resourcegroups/rg/providers/microsoft.machinelearningservices/workspaces/hub"
    assert [inventory.parse_connection(item, workspace, "example") for item in items] == [None, None]
    account = next(a for a in emulated.accounts("s1", "s2") if a.connected_from)
    served = account.connection_json(workspace)
    assert_shape(served, items[0], "connection")
    assert_shape(served["properties"], items[0]["properties"], "connection.properties")
    row = inventory.parse_connection(served, workspace, "emulated")
    assert row is not None and row["account_id"] == account.id.lower() and row["category"] == "AzureOpenAI"


def test_a_model_connection_without_the_resources_id_is_logged_not_guessed(caplog: pytest.LogCaptureFixture) -> None:
    workspace = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/h"
    item = {
        "id": f"{workspace}/connections/c",
        "name": "c",
        "properties": {
            "category": "AzureOpenAI",
            "target": "https://x.openai.azure.com/",
            "metadata": {"ApiType": "Azure"},
        },
    }
    assert inventory.parse_connection(item, "hub", "list connections of hub") is None
    assert "connection c (AzureOpenAI) names no Cognitive Services account in metadata.ResourceId" in caplog.text
