"""Contract of the quota, deployment and metrics answers: Azure's example keys and types.

Like test_emulator_contract.py, but recursive through objects and lists: every key of an
example object must appear in ours with a value of the same JSON type, and every item of
one of our lists must have the shape of the example's first item. Examples come from
shared/azure-examples (skipped when absent); online deployments have no example there, so
their shape is the one the collector was promised (written out below).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from emulator import EmulatorServer

from .conftest import Client
from .test_emulator_contract import _json_type

ML_API = "2025-09-01"
COMPUTE_API = "2025-04-01"
METRICS_API = "2024-02-01"

DEPLOYMENT_SHAPE: dict[str, Any] = {
    "id": "string",
    "name": "string",
    "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
    "location": "string",
    "sku": {"name": "Default", "capacity": 1},
    "properties": {
        "instanceType": "Standard_NC24ads_A100_v4",
        "model": "azureml://registries/azureml-meta/models/Llama-2-7b/versions/3",
        "provisioningState": "Succeeded",
        "endpointComputeType": "Managed",
    },
}


def _doc(examples: Path, name: str) -> dict[str, Any]:
    path = examples / name
    if not path.is_file():
        pytest.skip(f"{name} is not in {examples}")
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def _body(examples: Path, name: str) -> dict[str, Any]:
    body: dict[str, Any] = _doc(examples, name)["responses"]["200"]["body"]
    return body


def assert_deep_shape(ours: Any, theirs: Any, where: str) -> None:
    """Keys of `theirs` appear in `ours` with the same JSON types, all the way down."""
    if theirs is None or ours is None:
        return  # nullable in the spec, or left unset by us
    assert _json_type(ours) == _json_type(theirs), f"{where}: {_json_type(ours)} != {_json_type(theirs)}"
    if isinstance(theirs, dict):
        for key, value in theirs.items():
            assert key in ours, f"{where}: missing key {key!r}"
            assert_deep_shape(ours[key], value, f"{where}.{key}")
    elif isinstance(theirs, list) and theirs:
        for index, item in enumerate(ours):
            assert_deep_shape(item, theirs[0], f"{where}[{index}]")


def _scopes(server: EmulatorServer) -> list[tuple[str, str]]:
    return [(s.subscription_id, r) for s in server.tenant.subscriptions for r in sorted(server.tenant.quota_regions)]


def test_ml_usages(azure_examples: Path, client: Client, server: EmulatorServer) -> None:
    theirs = _body(azure_examples, "ml-usages-list-2025-09-01.json")
    for sub, region in _scopes(server):
        ours = client.get(
            f"/subscriptions/{sub}/providers/Microsoft.MachineLearningServices/locations/{region}/usages"
            f"?api-version={ML_API}"
        ).json()
        assert ours["value"] and "nextLink" in ours
        assert_deep_shape(ours, theirs, f"usages {region}")


def test_ml_quotas(azure_examples: Path, client: Client, server: EmulatorServer) -> None:
    theirs = _body(azure_examples, "ml-quotas-list-2025-09-01.json")
    for sub, region in _scopes(server):
        ours = client.get(
            f"/subscriptions/{sub}/providers/Microsoft.MachineLearningServices/locations/{region}/quotas"
            f"?api-version={ML_API}"
        ).json()
        assert ours["value"]
        assert_deep_shape(ours, theirs, f"quotas {region}")


@pytest.mark.parametrize(
    "example", ["compute-usages-list-maximumset-2025-04-01.json", "compute-usages-list-minimumset-2025-04-01.json"]
)
def test_compute_usages(azure_examples: Path, client: Client, server: EmulatorServer, example: str) -> None:
    theirs = _body(azure_examples, example)
    for sub, region in _scopes(server):
        ours = client.get(
            f"/subscriptions/{sub}/providers/Microsoft.Compute/locations/{region}/usages?api-version={COMPUTE_API}"
        ).json()
        assert ours["value"]
        assert_deep_shape(ours, theirs, f"compute usages {region}")
        assert all(set(item["name"]) == {"value", "localizedValue"} for item in ours["value"])


def test_metrics(azure_examples: Path, client: Client, server: EmulatorServer) -> None:
    doc = _doc(azure_examples, "monitor-metrics-get-2024-02-01.json")
    theirs = doc["responses"]["200"]["body"]
    asked = doc["parameters"]
    endpoint = next(e for e in server.tenant.serverless_endpoints if e.traffic == "tokens_hot")
    # The example's own query (a storage account's metrics), with this resource's metric names.
    ours = client.get(
        f"{endpoint.id}/providers/Microsoft.Insights/metrics",
        params={
            "api-version": METRICS_API,
            "timespan": asked["timespan"],
            "interval": asked["interval"],
            "aggregation": asked["aggregation"],
            "metricnames": "InputTokens,ModelRequests",
            "metricnamespace": asked["metricnamespace"],
            "$filter": asked["$filter"],
        },
    ).json()
    assert [m["name"]["value"] for m in ours["value"]] == ["InputTokens", "ModelRequests"]
    assert all(m["timeseries"][0]["data"] for m in ours["value"])
    assert_deep_shape(ours, theirs, "metrics")


def test_metrics_with_total_per_minute(azure_examples: Path, client: Client, server: EmulatorServer) -> None:
    theirs = _body(azure_examples, "monitor-metrics-get-2024-02-01.json")
    endpoint = server.tenant.serverless_endpoints[0]
    ours = client.get(
        f"{endpoint.id}/providers/Microsoft.Insights/metrics?api-version={METRICS_API}"
        "&timespan=2025-05-19T10:00:00Z/2025-05-19T11:00:00Z&interval=PT1M"
        "&metricnames=InputTokens,OutputTokens,TotalTokens,ModelRequests&aggregation=total"
    ).json()
    # The example asks for average/minimum/maximum; a "total" answer has only that.
    point = {"timeStamp": "2021-04-20T09:00:00Z", "total": 0.0}
    for series in theirs["value"]:
        for ts in series["timeseries"]:
            ts["data"] = [point]
    assert_deep_shape(ours, theirs, "metrics")
    assert [len(m["timeseries"][0]["data"]) for m in ours["value"]] == [60] * 4


def test_online_deployments(client: Client, server: EmulatorServer) -> None:
    for endpoint in server.tenant.online_endpoints:
        listed = client.get(f"{endpoint.id}/deployments?api-version=2025-12-01").json()
        assert listed["value"] and "nextLink" in listed
        for item in listed["value"]:
            assert_deep_shape(item, DEPLOYMENT_SHAPE, item["name"])
            single = client.get(f"{endpoint.id}/deployments/{item['name']}?api-version=2025-12-01")
            assert single.status_code == 200 and single.json() == item
