"""The Cost Management Query API over HTTPS: paging, exact sums, shape, validation."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from emulator import EmulatorServer, TenantSpec, generate_tenant

from .conftest import QUERY_API, ROOMY, TODAY, Client, query_body


def fetch_all(client: Client, subscription_id: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """All rows of a query as dicts keyed by column name, costs parsed as exact Decimals."""
    answer = client.query(subscription_id, body)
    rows: list[dict[str, Any]] = []
    pages = 0
    while True:
        assert answer.status_code == 200, answer.text
        pages += 1
        props = json.loads(answer.text, parse_float=Decimal)["properties"]
        names = [c["name"] for c in props["columns"]]
        rows += [dict(zip(names, row, strict=True)) for row in props["rows"]]
        if not props["nextLink"]:
            return rows, pages
        answer = client.post(props["nextLink"], body)


def test_paged_rows_sum_exactly_to_the_truth(client: Client, server: EmulatorServer) -> None:
    tenant = server.tenant
    start, end = tenant.history_start, tenant.history_end
    for sub in tenant.subscriptions:
        body = query_body(start, end, ["ResourceId", "Meter", "ChargeType"])
        rows, pages = fetch_all(client, sub.subscription_id, body)
        assert pages > 1
        assert len(rows) == len({(r["ResourceId"], r["Meter"], r["ChargeType"], r["UsageDate"]) for r in rows})
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for row in rows:
            totals[row["Currency"]] += row["Cost"]
        truth = {
            r["currency"]: r["cost"]
            for r in tenant.truth(["subscription"], start, end, include_other=True)
            if r["subscription"] == sub.subscription_id
        }
        assert dict(totals) == truth


def test_record_level_rows_survive_float_parsing(client: Client, server: EmulatorServer) -> None:
    sub = server.tenant.subscriptions[-1].subscription_id
    body = query_body(date(2025, 5, 1), date(2025, 5, 19), ["ResourceId", "Meter", "ChargeType"])
    answer = client.query(sub, body)
    exact = json.loads(answer.text, parse_float=Decimal)["properties"]["rows"]
    floats = answer.json()["properties"]["rows"]
    assert [Decimal(repr(row[0])) for row in floats] == [row[0] for row in exact]
    assert all(isinstance(row[0], float) for row in floats)


def test_rows_are_aggregated_over_the_groupings(client: Client, server: EmulatorServer) -> None:
    tenant = server.tenant
    sub = tenant.subscriptions[0].subscription_id
    start, end = date(2025, 3, 1), date(2025, 4, 15)
    rows, _ = fetch_all(client, sub, query_body(start, end, ["ResourceGroupName"], granularity="None"))
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for record in tenant.cost_records(sub, start, end):
        expected[record.resource_group] += record.cost
    assert {r["ResourceGroupName"]: r["Cost"] for r in rows} == expected
    assert all("UsageDate" not in r for r in rows)


def test_column_order_and_types(client: Client, server: EmulatorServer) -> None:
    sub = server.tenant.subscriptions[0].subscription_id
    body = query_body(date(2025, 3, 1), date(2025, 3, 2), ["Meter", "resourceid"])  # one page of 40 rows
    body["dataset"]["aggregation"]["qty"] = {"name": "UsageQuantity", "function": "Sum"}
    answer = client.query(sub, body).json()
    assert answer["type"] == "microsoft.costmanagement/Query"
    assert answer["id"].startswith(f"/subscriptions/{sub}/providers/Microsoft.CostManagement/query/")
    columns = [(c["name"], c["type"]) for c in answer["properties"]["columns"]]
    # Azure's order, as recorded (azure-cli-extensions test_data_grouping_in_subscription_scopde.yaml:
    # PreTaxCost, UsageDate, ResourceGroup, Currency): figures, the day, the groups, the currency.
    assert columns == [
        ("Cost", "Number"),
        ("UsageQuantity", "Number"),
        ("UsageDate", "Number"),
        ("Meter", "String"),
        ("ResourceId", "String"),
        ("Currency", "String"),
    ]
    rows = answer["properties"]["rows"]
    assert rows and answer["properties"]["nextLink"] is None
    for row in rows:
        assert isinstance(row[0], float) and isinstance(row[1], float)
        assert isinstance(row[2], int) and 20250301 <= row[2] <= 20250302
        assert row[4] == row[4].lower() and row[4].startswith("/subscriptions/")
    assert [r[2] for r in rows] == sorted(r[2] for r in rows)


def test_shuffled_columns_carry_the_same_rows(client: Client, server: EmulatorServer) -> None:
    sub = server.tenant.subscriptions[1].subscription_id
    body = query_body(date(2025, 3, 1), date(2025, 3, 2), ["ResourceId", "Meter"])

    def as_dicts() -> tuple[list[str], list[dict[str, Any]]]:
        props = client.query(sub, body).json()["properties"]
        names = [c["name"] for c in props["columns"]]
        return names, [dict(zip(names, row, strict=True)) for row in props["rows"]]

    plain_names, plain = as_dicts()
    server.faults.shuffle_columns = True
    shuffled_names, shuffled = as_dicts()
    assert shuffled_names != plain_names and sorted(shuffled_names) == sorted(plain_names)
    assert shuffled == plain


def test_other_timeframes_scopes_and_filters(client: Client, server: EmulatorServer) -> None:
    tenant = server.tenant
    sub = tenant.subscriptions[0]
    mtd = {"type": "Usage", "timeframe": "MonthToDate", "dataset": {"granularity": "Daily"}}
    answer = client.query(sub.subscription_id, mtd).json()["properties"]
    assert answer["columns"][0]["name"] == "PreTaxCost"  # Azure's default aggregation
    days = {row[1] for row in answer["rows"]}
    assert min(days) == 20250501 and max(days) == 20250519
    last = {"type": "AmortizedCost", "timeframe": "TheLastMonth", "dataset": {"granularity": "None"}}
    rows = client.query(sub.subscription_id, last).json()["properties"]["rows"]
    april = sum(r.cost for r in tenant.cost_records(sub.subscription_id, date(2025, 4, 1), date(2025, 4, 30)))
    assert [Decimal(repr(rows[0][0])), rows[0][1]] == [april, "USD"]

    hub = tenant.hubs[0]
    rg_path = (
        f"/subscriptions/{sub.subscription_id}/resourceGroups/{hub.resource_group.upper()}"
        f"/providers/Microsoft.CostManagement/query?api-version={QUERY_API}"
    )
    body = query_body(date(2025, 4, 1), date(2025, 4, 30), ["ResourceGroup"], granularity="None")
    rg_rows = client.post(rg_path, body).json()["properties"]["rows"]
    assert [r[1] for r in rg_rows] == [hub.resource_group.lower()]

    body["dataset"]["grouping"] = [{"type": "Dimension", "name": "PublisherType"}]
    body["dataset"]["filter"] = {"dimensions": {"name": "PublisherType", "operator": "In", "values": ["marketplace"]}}
    filtered = client.query(sub.subscription_id, body).json()["properties"]["rows"]
    assert [r[1] for r in filtered] == ["Marketplace"]


def test_no_data_is_an_empty_200(client: Client, server: EmulatorServer) -> None:
    sub = server.tenant.subscriptions[0].subscription_id
    answer = client.query(sub, query_body(date(2023, 1, 1), date(2023, 1, 31)))
    assert answer.status_code == 200
    assert answer.json()["properties"]["rows"] == [] and answer.json()["properties"]["nextLink"] is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b["dataset"]["grouping"].append({"type": "Dimension", "name": "Project"}), "Dimension 'Project'"),
        (lambda b: b["dataset"].update(granularity="Hourly"), "granularity"),
        (lambda b: b.pop("timePeriod"), "timePeriod is required"),
        (lambda b: b.update(type="Forecast"), "type"),
        (lambda b: b.update(timeframe="Yesterday"), "timeframe"),
        (lambda b: b["timePeriod"].update(to="2025-01-01T00:00:00Z"), "must not be before"),
        (lambda b: b["timePeriod"].update(**{"from": "2023-01-01T00:00:00Z"}), "1 year"),
        (lambda b: b["dataset"]["aggregation"]["totalCost"].update(function="Avg"), "Sum"),
        (
            lambda b: b["dataset"].update(filter={"dimensions": {"name": "Nope", "operator": "In", "values": []}}),
            "Nope",
        ),
        (
            lambda b: b["dataset"]["grouping"].extend(
                {"type": "Dimension", "name": n}
                for n in ("Meter", "MeterId", "ChargeType", "ServiceName", "MeterCategory")
            ),
            "maximum 5",
        ),
    ],
    ids=[
        "dimension",
        "granularity",
        "timePeriod",
        "type",
        "timeframe",
        "reversed",
        "too-long",
        "function",
        "filter",
        "groupings",
    ],
)
def test_invalid_queries_get_azure_400(client: Client, server: EmulatorServer, change: Any, message: str) -> None:
    body = query_body(date(2025, 3, 1), date(2025, 3, 31), ["ResourceId"])
    change(body)
    answer = client.query(server.tenant.subscriptions[0].subscription_id, body)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"].startswith("application/json")
    error = answer.json()["error"]
    assert error["code"] == "BadRequest"
    assert error["message"].startswith("Invalid query definition: ") and message in error["message"]


def test_a_skiptoken_is_bound_to_its_query(client: Client, server: EmulatorServer) -> None:
    sub = server.tenant.subscriptions[0].subscription_id
    body = query_body(date(2025, 3, 1), date(2025, 3, 31), ["ResourceId", "Meter"])
    link = client.query(sub, body).json()["properties"]["nextLink"]
    assert link.startswith(f"{server.url}/subscriptions/{sub}/providers/Microsoft.CostManagement/query?")
    assert f"api-version={QUERY_API}&$skiptoken=" in link
    other = query_body(date(2025, 3, 1), date(2025, 3, 30), ["ResourceId", "Meter"])
    assert client.post(link, other).status_code == 400
    assert client.post(link.split("$skiptoken=")[0] + "$skiptoken=%%%", body).status_code == 400


def test_max_groupings_follows_the_spec() -> None:
    with EmulatorServer(generate_tenant(TenantSpec(today=TODAY, max_groupings=2, **ROOMY))) as server:
        body = query_body(date(2025, 3, 1), date(2025, 3, 31), ["ResourceId", "Meter", "ChargeType"])
        answer = Client(server).query(server.tenant.subscriptions[0].subscription_id, body)
        assert answer.status_code == 400 and "maximum 2" in answer.json()["error"]["message"]
