"""Cost queries at the billing account, billing profile and management group: Azure's wire format,
every subscription of the scope, nextLink paging, QPU by months of data, and the wide-scope fault."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emulator import EmulatorServer

from .conftest import QUERY_API, Client, query_body
from .test_emulator_contract import assert_shape

CONSUMED = "x-ms-ratelimit-microsoft.costmanagement-qpu-consumed"


def _scopes(server: EmulatorServer) -> dict[str, str]:
    t = server.tenant
    account = f"/providers/Microsoft.Billing/billingAccounts/{t.billing_account_id}"
    return {
        "billing_account": account,
        "billing_profile": f"{account}/billingProfiles/{t.billing_profile_id}",
        "management_group": f"/providers/Microsoft.Management/managementGroups/{t.management_group_id}",
    }


def _query(client: Client, scope: str, body: Any) -> Any:
    return client.post(f"{scope}/providers/Microsoft.CostManagement/query?api-version={QUERY_API}", body)


def _all_rows(client: Client, scope: str, body: Any) -> tuple[list[str], list[list[Any]], int]:
    """Every page's rows (following nextLink with the same body), the columns, and the pages read."""
    answer = _query(client, scope, body)
    pages = 1
    assert answer.status_code == 200, answer.text
    properties = answer.json(parse_float=Decimal)["properties"]
    rows = list(properties["rows"])
    while properties["nextLink"]:
        assert "$skiptoken=" in properties["nextLink"]
        if scope.startswith("/providers/Microsoft.Billing"):  # as in the MCA spec example
            assert "api-version=2021-10-01" in properties["nextLink"]
        answer = client.post(properties["nextLink"], body)
        assert answer.status_code == 200, answer.text
        properties = answer.json(parse_float=Decimal)["properties"]
        rows += properties["rows"]
        pages += 1
    return [c["name"] for c in properties["columns"]], rows, pages


@pytest.mark.parametrize(
    ("example", "scope"),
    [
        ("costmanagement-query-mca-billingaccount-grouping-nextlink.json", "billing_account"),
        ("costmanagement-query-mca-billingprofile-nextlink.json", "billing_profile"),
    ],
)
def test_wide_answers_have_azures_shape(
    azure_examples: Path, client: Client, server: EmulatorServer, example: str, scope: str
) -> None:
    doc = json.loads((azure_examples / example).read_text())
    request, body = doc["parameters"]["parameters"], doc["responses"]["200"]["body"]
    unfiltered = {**request, "dataset": {k: v for k, v in request["dataset"].items() if k != "filter"}}
    answer = _query(client, _scopes(server)[scope], unfiltered)
    assert answer.status_code == 200, answer.text
    ours = answer.json()
    assert_shape(
        {k: v for k, v in ours.items() if k != "properties"},
        {k: v for k, v in body.items() if k != "properties"},
        "query",
    )
    assert ours["id"].startswith(_scopes(server)[scope] + "/providers/Microsoft.CostManagement/query/")
    assert {"nextLink", "columns", "rows"} <= set(ours["properties"]) and ours["properties"]["rows"]
    assert [c["name"] for c in ours["properties"]["columns"]][-1] == "Currency"


@pytest.mark.parametrize("scope", ["billing_account", "billing_profile", "management_group"])
def test_a_wide_answer_is_every_subscription_of_the_scope(client: Client, server: EmulatorServer, scope: str) -> None:
    """... less the Marketplace rows at a management group, as on an Enterprise Agreement (Learn,
    "Understand and work with scopes")."""
    body = query_body(date(2025, 4, 1), date(2025, 4, 30), ["SubscriptionId", "ResourceId"])
    columns, rows, pages = _all_rows(client, _scopes(server)[scope], body)
    assert pages > 1  # 40 rows a page in this module
    at = {name: i for i, name in enumerate(columns)}
    wide: dict[tuple[str, str], Decimal] = {}
    for row in rows:
        key = (row[at["SubscriptionId"]], row[at["Currency"]])
        wide[key] = wide.get(key, Decimal(0)) + row[at["Cost"]]
    each: dict[tuple[str, str], Decimal] = {}
    for s in server.tenant.subscriptions:
        path = f"/subscriptions/{s.subscription_id}"
        sub_columns, sub_rows, _ = _all_rows(
            client, path, query_body(date(2025, 4, 1), date(2025, 4, 30), ["ResourceId", "PublisherType"])
        )
        index = {name: i for i, name in enumerate(sub_columns)}
        for row in sub_rows:
            if scope == "management_group" and row[index["PublisherType"]] == "Marketplace":
                continue
            key = (s.subscription_id, row[index["Currency"]])
            each[key] = each.get(key, Decimal(0)) + row[index["Cost"]]
    assert wide == each and len({sid for sid, _ in wide}) == len(server.tenant.subscriptions)


def test_a_wide_query_costs_a_qpu_per_month_of_data(client: Client, server: EmulatorServer) -> None:
    answer = _query(client, _scopes(server)["billing_account"], query_body(date(2025, 2, 1), date(2025, 4, 30)))
    assert answer.status_code == 200 and answer.headers[CONSUMED] == "3"


def test_an_unknown_wide_scope_is_not_found(client: Client, server: EmulatorServer) -> None:
    body = query_body(date(2025, 4, 1), date(2025, 4, 30))
    for scope in (
        "/providers/Microsoft.Billing/billingAccounts/nope",
        f"{_scopes(server)['billing_account']}/billingProfiles/nope",
        "/providers/Microsoft.Management/managementGroups/nope",
    ):
        assert _query(client, scope, body).status_code == 404


@pytest.mark.parametrize(("status", "code"), [(403, "AuthorizationFailed"), (404, "NotFound"), (400, "BadRequest")])
def test_the_wide_scope_fault(client: Client, server: EmulatorServer, status: int, code: str) -> None:
    server.faults.apply("fail_wide_scope", {"status": status})
    body = query_body(date(2025, 4, 1), date(2025, 4, 30))
    for scope in _scopes(server).values():
        answer = _query(client, scope, body)
        assert answer.status_code == status and answer.json()["error"]["code"] == code
    assert client.query(server.tenant.subscriptions[0].subscription_id, body).status_code == 200
