"""Foundry resources from Azure's own answers (tests/contract/cognitiveservices, sources in its README):
the collector's parsers read them as Azure means them, and the emulator serves the same shapes."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from collector import attribution
from collector.settings import AttributionSettings
from collector.sources import foundry
from collector.sources.quota import FOUNDRY_PROVIDER, subscription_usages
from emulator import foundry as emulated
from tests.contract.conftest import spec_body
from tests.emulator.test_emulator_contract import assert_shape

HERE = Path(__file__).parent / "cognitiveservices"


def _load(name: str) -> Any:
    body = json.loads((HERE / name).read_text(), parse_float=Decimal)
    return body["responses"]["200"]["body"] if "responses" in body else body


def _emulated() -> emulated.FoundryAccount:
    return emulated.accounts("00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002")[0]


def test_a_standard_deployment_states_its_limits_per_10_and_60_seconds() -> None:
    # Learn's Deployments List answer: capacity 80 -> 80 requests per 10 s, 80,000 tokens per 60 s.
    standard, provisioned = _load("learn_deployments_list.json")["value"]
    row = foundry.parse_deployment(standard, "/subscriptions/s/resourcegroups/g/providers/x/accounts/a")
    assert row is not None
    assert (row["kind"], row["model_id"], row["model_version"]) == ("foundry", "gpt-35-turbo", "0301")
    assert (row["sku_name"], row["capacity"]) == ("Standard", 80)
    assert (row["tokens_per_minute"], row["requests_per_minute"]) == (80_000, 480)
    # A provisioned deployment states requests only: its tokens have no per-minute cap, not a 0 one.
    row = foundry.parse_deployment(provisioned, "/subscriptions/s/resourcegroups/g/providers/x/accounts/a")
    assert row is not None
    assert (row["sku_name"], row["capacity"], row["provisioning_state"]) == (
        "GlobalProvisionedManaged",
        100,
        "Updating",
    )
    assert (row["tokens_per_minute"], row["requests_per_minute"]) == (None, 1_800)


def test_the_spec_deployment_without_rate_limits_has_none() -> None:
    row = foundry.parse_deployment(_load("spec_2025-06-01_GetDeployment.json"), "/subscriptions/s/x")
    assert row is not None
    assert (row["model_id"], row["model_version"], row["sku_name"], row["capacity"]) == ("ada", "1", "Standard", 1)
    assert (row["tokens_per_minute"], row["requests_per_minute"]) == (None, None)


def test_a_project_keeps_its_own_name_and_tags() -> None:
    row = foundry.parse_project(_load("spec_2025-06-01_GetProject.json"), "account")
    assert row is not None
    assert (row["name"], row["display_name"], row["is_default"]) == ("myProject", "myProject", False)
    assert row["tags"] == {"Owner": "felixwa", "ExpiredDate": "2017/09/01"}
    assert row["resource_id"].endswith("/accounts/myaccount/projects/myproject")  # stored lower-case


def test_accounts_of_other_kinds_are_not_model_spend() -> None:
    # ListAccountsBySubscription.json lists Bing.Search, CRIS, Face and Emotion accounts: all billed,
    # none a model deployment's.
    items = _load("spec_2025-06-01_ListAccountsBySubscription.json")["value"]
    rows = [foundry.parse_account(item, "00000000-1111-2222-3333-444444444444") for item in items]
    assert [r["kind"] for r in rows if r] == ["Bing.Search", "CRIS", "Face", "Emotion"]
    infos = [attribution.FoundryInfo(r["resource_id"], r["name"], r["kind"], r["tags"]) for r in rows if r]
    results = attribution.attribute([i.resource_id for i in infos], [], [], [], AttributionSettings(), infos)
    assert {(a.spend_kind, a.rule) for a in results} == {("other", "not-ai")}


def test_usages_read_as_the_spec_lists_them() -> None:
    items = _load("spec_2025-06-01_ListUsages.json")["value"]
    rows = subscription_usages(items, FOUNDRY_PROVIDER, "list usages")
    assert [(r["name"], r["current_value"], r["limit_value"], r["unit"]) for r in rows] == [
        ("AccountCount", 3, 200, "Count")
    ]


def test_the_emulator_serves_the_shapes_of_the_examples() -> None:
    account = _emulated()
    spec_account = _load("spec_2025-06-01_ListAccountsBySubscription.json")["value"][1]
    assert_shape(emulated.account_json(account), spec_account, "account")
    assert_shape(
        emulated.project_json(account, account.projects[0]), _load("spec_2025-06-01_GetProject.json"), "project"
    )
    learn = _load("learn_deployments_list.json")["value"][0]
    served = emulated.deployment_json(account, account.deployments[0])
    assert_shape(served, {k: learn[k] for k in ("id", "name", "type", "sku")}, "deployment")
    assert_shape(
        served["properties"],
        {k: learn["properties"][k] for k in ("model", "provisioningState", "rateLimits")},
        "deployment.properties",
    )


def test_the_emulator_splits_a_metric_as_azure_does(contract: Path) -> None:
    """monitor/spec_2024-02-01_GetMetric.json asks `Tier eq '*'` and gets one series per tier, each
    naming it in metadatavalues: the emulator's split by ModelDeploymentName has that shape."""
    from datetime import UTC, datetime

    from emulator.metrics import batch_entry, parse_metrics_request
    from emulator.traffic import Series

    example = spec_body(contract / "monitor", "spec_2024-02-01_GetMetric.json")["value"][0]["timeseries"][0]
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    request = parse_metrics_request({"timespan": "PT2M", "metricnames": "TotalTokens"}, now)
    busy = Series(0, [5, 7], [1, 1], [1, 2])
    entry = batch_entry("/subscriptions/s/x", "eastus2", request, busy, split=[("gpt-4o", busy)], dimension="D")
    (series,) = entry["value"][0]["timeseries"]
    assert_shape(series["metadatavalues"], example["metadatavalues"], "metadatavalues", recurse=True)
    assert series["metadatavalues"][0]["value"] == "gpt-4o"
