"""Inventory changes over time: `Tenant.step()` walks its script, and the routes follow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from emulator import EmulatorServer, Tenant, TenantSpec, generate_tenant
from emulator.quota import ML_PROVIDER

from .conftest import ROOMY, TODAY, Client

NOW = datetime(2025, 5, 20, 9, 15, tzinfo=UTC)
ML_API = "2025-12-01"


def _tenant() -> Tenant:
    tenant = generate_tenant(TenantSpec(today=TODAY, **ROOMY))
    tenant.clock = NOW.timestamp
    return tenant


def _shape(changes: list[dict[str, Any]]) -> list[tuple[str, str, str | None, str | None]]:
    return [(c["kind"], c["resource_type"], c["old"], c["new"]) for c in changes]


def test_the_script() -> None:
    tenant = _tenant()
    steps = []
    while made := tenant.step():
        steps.append(made)
        tenant.clock = (NOW + timedelta(minutes=len(steps))).timestamp
    assert [_shape(s) for s in steps] == [
        [
            ("status", "marketplaceSubscription", "Subscribed", "Suspended"),
            ("status", "saasResource", "Subscribed", "Suspended"),
        ],
        [
            ("added", "marketplaceSubscription", None, "Subscribed"),
            ("added", "saasResource", None, "Subscribed"),
            ("added", "serverlessEndpoint", None, "Online"),
        ],
        [("status", "onlineDeployment", "2", "3")],
        [("removed", "serverlessEndpoint", "Online", None)],
        [
            ("status", "marketplaceSubscription", "Suspended", "Unsubscribed"),
            ("status", "saasResource", "Suspended", "Unsubscribed"),
        ],
    ]
    assert tenant.step() == [] and tenant.changes == [c for s in steps for c in s]
    assert [s[0]["at"] for s in steps] == [NOW + timedelta(minutes=k) for k in range(5)]
    assert steps[0][0]["resource_id"] == steps[4][0]["resource_id"]
    assert "/Microsoft.SaaS/resources/" in steps[0][1]["resource_id"]  # mixed case, as ARM spells it
    assert steps[0][1]["resource_id"] == steps[4][1]["resource_id"]
    assert tenant.inventory_version == 5
    new_saas = next(s for s in tenant.saas_resources if s.id == steps[1][1]["resource_id"])
    assert (new_saas.true_project, new_saas.expected_project, new_saas.created_at) == (
        "proj-summarizer",
        "proj-summarizer",
        NOW + timedelta(minutes=1),
    )
    assert tenant.cost_source(new_saas.id) is None  # the new resource has no costs yet
    again = _tenant()
    assert [_shape(again.step()) for _ in range(5)] == [_shape(s) for s in steps]  # deterministic


def test_the_routes_follow_each_step() -> None:
    tenant = _tenant()
    with EmulatorServer(tenant) as server:
        client = Client(server)

        def get(path: str, api: str = ML_API) -> requests.Response:
            return client.get(f"{path}?api-version={api}")

        def step_over_http() -> list[dict[str, Any]]:
            answer = requests.post(f"{server.url}/_emulator/step", verify=str(server.ca_path), timeout=10)
            assert answer.status_code == 200
            changes: list[dict[str, Any]] = answer.json()
            return changes

        # 1. Suspended: the marketplace subscription and its SaaS resource, in lists and GETs.
        suspended = step_over_http()
        assert suspended[0]["at"] == NOW.isoformat()
        msub_id, saas_id = suspended[0]["resource_id"], suspended[1]["resource_id"]
        assert get(msub_id).json()["properties"]["marketplaceSubscriptionStatus"] == "Suspended"
        workspace = msub_id.rsplit("/marketplaceSubscriptions/", 1)[0]
        listed = get(f"{workspace}/marketplaceSubscriptions").json()["value"]
        assert {m["id"]: m["properties"]["marketplaceSubscriptionStatus"] for m in listed}[msub_id] == "Suspended"
        for api in ("2026-04-01", "2018-03-01-beta"):
            assert get(saas_id, api).json()["properties"]["status"] == "Suspended"

        # 2. A new offer: subscription, SaaS resource and serverless endpoint appear.
        added = tenant.step()  # the Python call works as well as the admin route
        new_msub, new_saas, new_endpoint = (c["resource_id"] for c in added)
        project = new_msub.rsplit("/marketplaceSubscriptions/", 1)[0]
        assert get(new_msub).status_code == 200
        assert new_endpoint in {e["id"] for e in get(f"{project}/serverlessEndpoints").json()["value"]}
        assert get(new_endpoint).json()["properties"]["marketplaceSubscriptionId"] == new_msub
        sub = new_saas.split("/")[2]
        assert new_saas in {
            s["id"] for s in get(f"/subscriptions/{sub}/providers/Microsoft.SaaS/resources").json()["value"]
        }
        assert get(new_saas, "2026-04-01").json()["properties"]["status"] == "Subscribed"
        resources = client.get(
            f"/subscriptions/{sub}/resources?api-version=2025-04-01&$filter=resourceType eq 'Microsoft.SaaS/resources'"
        ).json()["value"]
        assert new_saas in {r["id"] for r in resources}
        metrics = get(f"{new_endpoint}/providers/Microsoft.Insights/metrics", "2024-02-01")
        assert metrics.status_code == 200  # no traffic before it existed
        assert all(p["total"] == 0 for p in metrics.json()["value"][0]["timeseries"][0]["data"])

        # 3. The managed deployment scales out, and the quota follows.
        (scaled,) = step_over_http()
        deployment = get(scaled["resource_id"]).json()
        assert deployment["sku"]["capacity"] == 3 and scaled["new"] == "3"
        endpoint_id = scaled["resource_id"].rsplit("/deployments/", 1)[0]
        assert get(f"{endpoint_id}/deployments").json()["value"] == [deployment]
        d = next(x for x in tenant.online_deployments if x.id == scaled["resource_id"])
        usages = get(
            f"/subscriptions/{d.subscription_id}/providers/Microsoft.MachineLearningServices/locations/{d.location}/usages",
            "2025-09-01",
        ).json()["value"]
        # The subscription's line, not the workspace shares listed after it under the same name.
        family = next(
            (u["currentValue"], u["limit"])
            for u in usages
            if u["name"]["value"] == "standardNCSv3Family" and u["type"].endswith("/vmFamily/usages")
        )
        assert family == (52, 64)  # 81%: over the 80% line now
        assert {
            "current": 52,
            "limit": 64,
            "name": "standardNCSv3Family",
            "provider": ML_PROVIDER,
            "location": d.location,
        }.items() <= next(
            r
            for r in tenant.quota_truth()
            if (r["subscription_id"], r["location"], r["provider"], r["name"])
            == (d.subscription_id, d.location, ML_PROVIDER, "standardNCSv3Family")
        ).items()

        # 4. A serverless endpoint disappears from lists, GETs, metrics and the peaks.
        (removed,) = step_over_http()
        gone = removed["resource_id"]
        assert get(gone).status_code == 404
        assert gone not in {
            e["id"] for e in get(f"{gone.rsplit('/serverlessEndpoints/', 1)[0]}/serverlessEndpoints").json()["value"]
        }
        assert get(f"{gone}/providers/Microsoft.Insights/metrics", "2024-02-01").status_code == 404
        assert gone.lower() not in tenant.peak_truth(NOW - timedelta(hours=1), NOW)

        # 5. Unsubscribed, and then the script is over.
        unsubscribed = step_over_http()
        assert [c["resource_id"] for c in unsubscribed] == [msub_id, saas_id]
        assert get(msub_id).json()["properties"]["marketplaceSubscriptionStatus"] == "Unsubscribed"
        assert get(saas_id, "2026-04-01").json()["properties"]["status"] == "Unsubscribed"
        assert step_over_http() == []
        changes = requests.get(f"{server.url}/_emulator/changes", verify=str(server.ca_path), timeout=10).json()
        assert [c["resource_id"] for c in changes] == [c["resource_id"] for c in tenant.changes]
        assert server.stats.count("admin_step") == 5
