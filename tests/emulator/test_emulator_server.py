"""The HTTPS server: routes, auth, errors, paging of lists, admin endpoints, official SDKs."""

from __future__ import annotations

import json
import socket
import ssl
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.mgmt.costmanagement import CostManagementClient
from azure.mgmt.costmanagement.models import (
    QueryAggregation,
    QueryDataset,
    QueryDefinition,
    QueryGrouping,
    QueryTimePeriod,
)

from emulator import EmulatorServer, TenantSpec, generate_tenant
from emulator.server import serve_forever

from .conftest import ROOMY, TODAY, Client, query_body

ML = "providers/Microsoft.MachineLearningServices/workspaces"


class StaticToken:
    """A TokenCredential that hands out one fixed token (the emulator accepts any)."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("emulator-token", 4102444800)


def test_certificate_is_valid_for_ip_and_localhost(server: EmulatorServer) -> None:
    context = ssl.create_default_context(cafile=str(server.ca_path))
    for name in ("127.0.0.1", "localhost"):
        with (
            socket.create_connection(("127.0.0.1", server.port)) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            assert tls.version() is not None
    assert server.url == f"https://127.0.0.1:{server.port}"
    answer = requests.get(f"https://localhost:{server.port}/_emulator/health", verify=str(server.ca_path), timeout=5)
    assert answer.json() == {"status": "ok"}


def test_keep_alive_reuses_one_connection(client: Client) -> None:
    for _ in range(5):
        assert client.get("/subscriptions?api-version=2022-12-01").status_code == 200
    adapter = client.session.get_adapter("https://")
    assert isinstance(adapter, requests.adapters.HTTPAdapter)
    pools = list(adapter.poolmanager.pools._container.values())
    assert len(pools) == 1 and pools[0].num_connections == 1


def test_subscriptions(client: Client, server: EmulatorServer) -> None:
    value = client.get("/subscriptions?api-version=2022-12-01").json()["value"]
    tenant = server.tenant
    assert [s["subscriptionId"] for s in value] == [s.subscription_id for s in tenant.subscriptions]
    for item, sub in zip(value, tenant.subscriptions, strict=True):
        assert item["id"] == f"/subscriptions/{sub.subscription_id}"
        assert (item["tenantId"], item["displayName"], item["state"]) == (tenant.tenant_id, sub.display_name, "Enabled")
        assert "subscriptionPolicies" in item


def test_workspaces_hubs_and_projects(client: Client, server: EmulatorServer) -> None:
    sub = server.tenant.subscriptions[0].subscription_id
    value = client.get(f"/subscriptions/{sub}/{ML}?api-version=2025-12-01").json()["value"]
    kinds = {w["name"]: w["kind"] for w in value}
    assert set(kinds.values()) == {"Hub", "Project", "Default"}  # Default: a plain Azure ML workspace
    hubs = {w["id"] for w in value if w["kind"] == "Hub"}
    for project in (w for w in value if w["kind"] != "Hub"):
        assert (project["properties"].get("hubResourceId") in hubs) == (project["kind"] == "Project")
        assert project["properties"]["friendlyName"] and isinstance(project["tags"], dict)
        single = client.get(f"{project['id'].upper()}?api-version=2025-12-01")  # ARM paths are case-insensitive
        assert single.status_code == 200 and single.json() == project


def test_lists_page_with_next_link() -> None:
    spec = TenantSpec(today=TODAY, page_size=1, **ROOMY)
    with EmulatorServer(generate_tenant(spec)) as server:
        client = Client(server)
        project = next(p for p in server.tenant.projects if p.name == "proj-translator")
        names, url = [], f"{project.id}/marketplaceSubscriptions?api-version=2025-12-01"
        while url:
            answer = client.get(url).json()
            assert len(answer["value"]) <= 1
            names += [item["name"] for item in answer["value"]]
            url = answer["nextLink"]
            assert url is None or url.startswith(server.url)
        assert names == [m.name for m in server.tenant.marketplace_subscriptions if m.project == "proj-translator"]
        assert len(names) == 2


def test_saas_api_versions_differ(client: Client, server: EmulatorServer) -> None:
    sub = server.tenant.subscriptions[0].subscription_id
    path = f"/subscriptions/{sub}/providers/Microsoft.SaaS/resources"
    new = client.get(f"{path}?api-version=2026-04-01").json()["value"]
    old = client.get(f"{path}?api-version=2018-03-01-beta").json()["value"]
    assert [s["id"] for s in new] == [s["id"] for s in old]
    assert {"offerName", "planName", "publisherName", "termStartDate"} <= set(new[0]["properties"])
    assert {"offerId", "skuId", "publisherId", "created"} <= set(old[0]["properties"])
    assert "offerId" not in new[0]["properties"] and "offerName" not in old[0]["properties"]
    tagged = [s for s in new if s["tags"].get("costwatch-project")]
    assert tagged and all("/resourceGroups/" in s["id"] and "/Microsoft.SaaS/" in s["id"] for s in new)


def test_endpoints_and_generic_resources(client: Client, server: EmulatorServer) -> None:
    online = server.tenant.online_endpoints[0]
    workspace = online.workspace_id
    value = client.get(f"{workspace}/onlineEndpoints?api-version=2025-12-01").json()["value"]
    assert [v["id"] for v in value] == [online.id]
    endpoints = client.get(f"{workspace}/serverlessEndpoints?api-version=2025-12-01").json()["value"]
    assert all(e["properties"]["inferenceEndpoint"]["uri"].startswith("https://") for e in endpoints)
    sub = server.tenant.subscriptions[0].subscription_id
    saas = client.get(
        f"/subscriptions/{sub}/resources?api-version=2025-04-01&$filter=resourceType eq 'Microsoft.SaaS/resources'"
    ).json()["value"]
    assert {s["id"] for s in saas} == {s.id for s in server.tenant.saas_resources if s.subscription_id == sub}


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "AuthenticationFailed"),
        ({"Authorization": "Bearer "}, "AuthenticationFailed"),
        ({"Authorization": "Basic x"}, "AuthenticationFailed"),
    ],
)
def test_a_bearer_token_is_required(server: EmulatorServer, headers: dict[str, str], code: str) -> None:
    answer = requests.get(
        f"{server.url}/subscriptions?api-version=2022-12-01", headers=headers, verify=str(server.ca_path)
    )
    assert answer.status_code == 401 and answer.json()["error"]["code"] == code
    assert "WWW-Authenticate" in answer.headers


def test_errors_are_arm_shaped(client: Client, server: EmulatorServer) -> None:
    sub = server.tenant.subscriptions[0].subscription_id
    cases = [
        (client.get("/nowhere?api-version=1"), 404, "NotFound"),
        (client.get(f"/subscriptions/{sub}/{ML}"), 400, "MissingApiVersionParameter"),
        (
            client.get(f"/subscriptions/{'0' * 8}-0000-0000-0000-{'0' * 12}/{ML}?api-version=1"),
            404,
            "SubscriptionNotFound",
        ),
        (client.get(f"/subscriptions/{sub}/resourceGroups/nope/{ML}/x?api-version=1"), 404, "ResourceGroupNotFound"),
        (client.get(f"{server.tenant.hubs[0].id}x?api-version=1"), 404, "ResourceNotFound"),
        (
            client.get(f"/subscriptions/{sub}/providers/Microsoft.CostManagement/query?api-version=1"),
            405,
            "MethodNotAllowed",
        ),
        (
            client.post(f"/subscriptions/{sub}/providers/Microsoft.CostManagement/query?api-version=1", None),
            400,
            "BadRequest",
        ),
    ]
    for answer, status, code in cases:
        assert answer.status_code == status, answer.text
        assert answer.headers["Content-Type"].startswith("application/json")
        assert answer.json()["error"]["code"] == code and answer.json()["error"]["message"]


def test_admin_truth_and_restate() -> None:
    with EmulatorServer(generate_tenant(TenantSpec(today=TODAY, **ROOMY))) as server:
        verify = str(server.ca_path)
        url = f"{server.url}/_emulator/truth?by=project,model,meter,currency&from=2025-05-01&to=2025-05-19"
        before = requests.get(url, verify=verify).json()
        assert before and set(before[0]) == {"project", "model", "meter", "currency", "cost"}
        assert all(isinstance(r["cost"], str) for r in before)
        expected = server.tenant.truth(["project", "model", "meter", "currency"], date(2025, 5, 1), date(2025, 5, 19))
        assert [Decimal(r["cost"]) for r in before] == [r["cost"] for r in expected]
        final = requests.get(
            url.replace("2025-05-01", "2025-04-01").replace("2025-05-19", "2025-04-30"), verify=verify
        ).json()
        assert requests.post(f"{server.url}/_emulator/restate", verify=verify).json() == {"version": 1}
        after = requests.get(url, verify=verify).json()
        assert [r["cost"] for r in after] != [r["cost"] for r in before]
        assert (
            requests.get(
                url.replace("2025-05-01", "2025-04-01").replace("2025-05-19", "2025-04-30"), verify=verify
            ).json()
            == final
        )
        other = requests.get(f"{server.url}/_emulator/truth?by=spend_kind&include_other=1", verify=verify).json()
        assert {r["spend_kind"] for r in other} == {"marketplace", "managed_compute", "other"}
        assert requests.get(f"{server.url}/_emulator/truth?by=nope", verify=verify).status_code == 400
        inventory = requests.get(f"{server.url}/_emulator/tenant", verify=verify).json()
        assert inventory["version"] == 1 and "(unattributed)" in {
            s["expectedProject"] for s in inventory["saasResources"]
        }


def test_restate_changes_only_estimated_months_over_http() -> None:
    with EmulatorServer(generate_tenant(TenantSpec(today=TODAY, **ROOMY))) as server:
        client = Client(server)
        sub = server.tenant.subscriptions[0].subscription_id
        body = query_body(date(2025, 4, 1), date(2025, 5, 19), ["ResourceId", "Meter", "ChargeType"])

        def costs() -> dict[tuple, Decimal]:
            props = json.loads(client.query(sub, body).text, parse_float=Decimal)["properties"]
            rows = props["rows"]
            assert props["nextLink"] is None
            at = {c["name"]: i for i, c in enumerate(props["columns"])}
            names = ("ResourceId", "Meter", "ChargeType", "UsageDate")
            return {tuple(r[at[n]] for n in names): r[at["Cost"]] for r in rows}

        before = costs()
        requests.post(f"{server.url}/_emulator/restate", verify=str(server.ca_path))
        after = costs()
        assert before.keys() == after.keys()
        for key, cost in before.items():
            if key[3] < 20250501:
                assert after[key] == cost
            else:
                assert after[key] != cost


def test_official_sdk_reads_a_cost_query(server: EmulatorServer) -> None:
    client = CostManagementClient(StaticToken(), base_url=server.url, connection_verify=str(server.ca_path))
    sub = server.tenant.subscriptions[0].subscription_id
    definition = QueryDefinition(
        type="ActualCost",
        timeframe="Custom",
        time_period=QueryTimePeriod(
            from_property=datetime(2025, 3, 1, tzinfo=UTC), to=datetime(2025, 3, 31, 23, 59, 59, tzinfo=UTC)
        ),
        dataset=QueryDataset(
            granularity="None",
            aggregation={"totalCost": QueryAggregation(name="Cost", function="Sum")},
            grouping=[QueryGrouping(type="Dimension", name="SubscriptionId")],
        ),
    )
    result = client.query.usage(f"/subscriptions/{sub}", definition)
    assert result is not None and result.columns is not None and result.rows is not None
    assert [c.name for c in result.columns] == ["Cost", "SubscriptionId", "Currency"]
    expected = sum(r.cost for r in server.tenant.cost_records(sub, date(2025, 3, 1), date(2025, 3, 31)))
    assert Decimal(repr(result.rows[0][0])) == expected
    server.faults.no_content(1)
    assert client.query.usage(f"/subscriptions/{sub}", definition) is None


def test_official_sdk_lists_subscriptions(server: EmulatorServer) -> None:
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    client = SubscriptionClient(StaticToken(), base_url=server.url, connection_verify=str(server.ca_path))
    names = [s.display_name for s in client.subscriptions.list()]
    assert names == [s.display_name for s in server.tenant.subscriptions]


def test_serve_forever_writes_the_ca_and_serves(tmp_path: Path) -> None:
    import threading

    ready: list[EmulatorServer] = []
    stop = threading.Event()
    spec = TenantSpec(today=TODAY)
    thread = threading.Thread(
        target=serve_forever,
        args=(spec, "127.0.0.1", 0, tmp_path),
        kwargs={"on_ready": ready.append, "stop": stop},
        daemon=True,
    )
    thread.start()
    for _ in range(100):
        if ready:
            break
        threading.Event().wait(0.05)
    server = ready[0]
    assert server.ca_path == tmp_path / "emulator-ca.pem" and server.ca_path.read_text().startswith("-----BEGIN")
    assert requests.get(f"{server.url}/_emulator/health", verify=str(server.ca_path)).status_code == 200
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert server.ca_path.exists()  # the CLI's CA stays where it was asked to be written


def test_stop_ends_kept_alive_connections(tmp_path: Path) -> None:
    with EmulatorServer(generate_tenant(TenantSpec(today=TODAY)), ca_dir=tmp_path) as server:
        client = Client(server)
        url = client.url("/subscriptions?api-version=2022-12-01")
        assert client.get(url).status_code == 200
    with pytest.raises(requests.ConnectionError):
        client.session.get(url, headers={"Authorization": "Bearer t"}, verify=str(tmp_path / "emulator-ca.pem"))
