"""Contract: what the emulator serves has (at least) the shape of Azure's own examples.

For each kind of answer with an example in shared/azure-examples, the emulator's objects
must have every key the example's objects have (recursively inside `properties`), with
values of the same JSON type. A subscriptions list has no example there: not checked here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from emulator import EmulatorServer

from .conftest import Client


def _example(examples: Path, name: str) -> dict[str, Any]:
    path = examples / name
    if not path.is_file():
        pytest.skip(f"{name} is not in {examples}")
    return json.loads(path.read_text())


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def assert_shape(ours: Any, theirs: Any, where: str, recurse: bool = False) -> None:
    """Keys of `theirs` appear in `ours` with the same JSON types (null matches anything)."""
    if theirs is None or ours is None:
        return  # nullable in the spec, or left unset by us
    assert _json_type(ours) == _json_type(theirs), f"{where}: {_json_type(ours)} != {_json_type(theirs)}"
    if isinstance(theirs, dict):
        free_form = set(theirs) <= {"string"}  # maps the spec examples fill with "string": "string"
        for key, value in theirs.items():
            if free_form:
                continue
            assert key in ours, f"{where}: missing key {key!r}"
            if recurse or key == "properties":
                assert_shape(ours[key], value, f"{where}.{key}", recurse=True)
            else:
                assert _json_type(ours[key]) == _json_type(value) or value is None or ours[key] is None, (
                    f"{where}.{key}: {_json_type(ours[key])} != {_json_type(value)}"
                )


def _first_project_with(server: EmulatorServer, kind: str) -> str:
    tenant = server.tenant
    if kind == "marketplaceSubscriptions":
        return tenant.marketplace_subscriptions[0].workspace_id
    return tenant.serverless_endpoints[0].workspace_id


@pytest.mark.parametrize(
    ("example", "version"),
    [
        ("saas-resource-list-by-subscription-2026-04-01.json", "2026-04-01"),
        ("saas-resource-list-by-subscription-2018-03-01-beta.json", "2018-03-01-beta"),
    ],
)
def test_saas_resource_lists(
    azure_examples: Path, client: Client, server: EmulatorServer, example: str, version: str
) -> None:
    body = _example(azure_examples, example)["responses"]["200"]["body"]
    sub = server.tenant.subscriptions[0].subscription_id
    ours = client.get(f"/subscriptions/{sub}/providers/Microsoft.SaaS/resources?api-version={version}").json()
    assert_shape(
        {k: v for k, v in ours.items() if k != "value"}, {k: v for k, v in body.items() if k != "value"}, "list"
    )
    assert ours["value"]
    for item in ours["value"]:
        assert_shape(item, body["value"][0], item["name"])


@pytest.mark.parametrize(
    ("example", "version"),
    [
        ("saas-resource-get-2026-04-01.json", "2026-04-01"),
        ("saas-resource-get-2018-03-01-beta.json", "2018-03-01-beta"),
    ],
)
def test_saas_resource_get(
    azure_examples: Path, client: Client, server: EmulatorServer, example: str, version: str
) -> None:
    body = _example(azure_examples, example)["responses"]["200"]["body"]
    saas = server.tenant.saas_resources[0]
    assert_shape(client.get(f"{saas.id}?api-version={version}").json(), body, saas.name)


@pytest.mark.parametrize(
    ("example", "child"),
    [
        ("ml-marketplacesubscription-list-2025-09-01.json", "marketplaceSubscriptions"),
        ("ml-serverlessendpoint-list-2025-09-01.json", "serverlessEndpoints"),
    ],
)
def test_workspace_child_lists(
    azure_examples: Path, client: Client, server: EmulatorServer, example: str, child: str
) -> None:
    body = _example(azure_examples, example)["responses"]["200"]["body"]
    workspace = _first_project_with(server, child)
    ours = client.get(f"{workspace}/{child}?api-version=2025-12-01").json()
    assert "nextLink" in ours and ours["value"]
    for item in ours["value"]:
        assert_shape(item, body["value"][0], item["name"])


@pytest.mark.parametrize(
    ("example", "child"),
    [
        ("ml-marketplacesubscription-get-2025-12-01.json", "marketplaceSubscriptions"),
        ("ml-serverlessendpoint-get-2025-12-01.json", "serverlessEndpoints"),
        ("ml-serverlessendpoint-get-2025-09-01.json", "serverlessEndpoints"),
    ],
)
def test_workspace_child_get(
    azure_examples: Path, client: Client, server: EmulatorServer, example: str, child: str
) -> None:
    body = _example(azure_examples, example)["responses"]["200"]["body"]
    workspace = _first_project_with(server, child)
    name = client.get(f"{workspace}/{child}?api-version=2025-12-01").json()["value"][0]["name"]
    assert_shape(client.get(f"{workspace}/{child}/{name}?api-version=2025-12-01").json(), body, name)


QUERY_EXAMPLES = [
    "costmanagement-query-subscription.json",
    "costmanagement-query-subscription-grouping.json",
    "costmanagement-query-resourcegroup-grouping-daily.json",
    "costmanagement-query-mca-billingaccount-grouping-nextlink.json",
    "costmanagement-query-mca-billingprofile-nextlink.json",
]


def _explained(request: dict[str, Any], columns: list[dict[str, str]]) -> bool:
    """Whether the example's columns follow from its request (some examples are sloppy), their order
    aside: spec examples put UsageDate after the groups, the real recorded answer before them."""
    grouping = [g["name"] for g in request["dataset"].get("grouping", [])]
    return sorted(c["name"] for c in columns[1:-1]) == sorted(
        grouping + (["UsageDate"] if request["dataset"]["granularity"] == "Daily" else [])
    )


@pytest.mark.parametrize("example", QUERY_EXAMPLES)
def test_cost_query_answers(azure_examples: Path, client: Client, server: EmulatorServer, example: str) -> None:
    doc = _example(azure_examples, example)
    request, body = doc["parameters"]["parameters"], doc["responses"]["200"]["body"]
    sub = server.tenant.subscriptions[0].subscription_id
    # The example's filter may match nothing here; its unfiltered twin must return rows.
    for send in (request, {**request, "dataset": {k: v for k, v in request["dataset"].items() if k != "filter"}}):
        answer = client.query(sub, send)
        assert answer.status_code == 200, answer.text
        ours = answer.json()
        assert_shape(
            {k: v for k, v in ours.items() if k != "properties"},
            {k: v for k, v in body.items() if k != "properties"},
            "query",
        )
        assert {"nextLink", "columns", "rows"} <= set(ours["properties"])
        assert ours["properties"]["nextLink"] is None or ours["properties"]["nextLink"].startswith("https://")
        theirs_types = {c["name"]: c["type"] for c in body["properties"]["columns"]}
        columns = ours["properties"]["columns"]
        for column in columns:
            assert set(column) == {"name", "type"}
            if column["name"] in theirs_types:
                assert column["type"] == theirs_types[column["name"]]
        names = [c["name"] for c in columns]
        assert names[0] == body["properties"]["columns"][0]["name"] and names[-1] == "Currency"
        if _explained(request, body["properties"]["columns"]):
            assert sorted(columns, key=str) == sorted(body["properties"]["columns"], key=str)
        if "UsageDate" in names:
            # As recorded from Azure (azure-cli-extensions test_data_grouping_in_subscription_scopde.yaml:
            # PreTaxCost, UsageDate, ResourceGroup, Currency), which outranks the spec examples' order.
            assert names.index("UsageDate") == max(1, len(request["dataset"].get("aggregation", {})))
        for row in ours["properties"]["rows"]:
            assert len(row) == len(columns)
            for value, column in zip(row, columns, strict=True):
                expected = {"Number": (int, float), "String": (str,)}[column["type"]]
                assert isinstance(value, expected) and not isinstance(value, bool)
                if column["name"] == "UsageDate":
                    assert isinstance(value, int) and 20000101 < value < 21000101
                elif column["type"] == "Number":
                    assert isinstance(value, float)
    assert ours["properties"]["rows"], "the unfiltered query returned no rows"
    example_row = body["properties"]["rows"][0]
    example_types = [_json_type(v) for v in example_row]
    assert example_types[0] == "number" and example_types[-1] == "str"
