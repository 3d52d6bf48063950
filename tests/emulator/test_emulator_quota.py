"""VM-core quota: the routes serve `quota_truth()`, and the scenario levels are there."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from emulator import EmulatorServer, Tenant, TenantSpec, generate_tenant
from emulator.catalog import VM_SIZES
from emulator.quota import COMPUTE_PROVIDER, ML_PROVIDER

from .conftest import TODAY, Client

ML = "Microsoft.MachineLearningServices"


def _usages_path(sub: str, region: str, provider: str, kind: str = "usages") -> str:
    api = "2025-04-01" if provider == COMPUTE_PROVIDER else "2025-09-01"
    return f"/subscriptions/{sub}/providers/{provider}/locations/{region}/{kind}?api-version={api}"


def _served(client: Client, path: str) -> list[dict[str, Any]]:
    items, url = [], path
    while url:
        answer = client.get(url)
        assert answer.status_code == 200, answer.text
        items += answer.json()["value"]
        url = answer.json()["nextLink"]
    return items


def _share(row: dict[str, Any]) -> float | None:
    return row["current"] / row["limit"] if row["limit"] > 0 else None


def _role(tenant: Tenant, subscription_id: str) -> str:
    return next(s.display_name for s in tenant.subscriptions if s.subscription_id == subscription_id)


def test_routes_serve_the_truth(client: Client, server: EmulatorServer) -> None:
    truth = server.tenant.quota_truth()
    served = []
    shares: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (a workspace's line, its family's line)
    family: dict[str, Any] = {}
    for sub in server.tenant.subscriptions:
        for region in sorted(server.tenant.quota_regions):
            for provider in (ML_PROVIDER, COMPUTE_PROVIDER):
                for item in _served(client, _usages_path(sub.subscription_id.upper(), region.upper(), provider)):
                    if item.get("type", "").endswith("/workspaces/usages"):
                        shares.append((item, family))  # a share follows its family's line
                        continue
                    family = item
                    served.append(
                        {
                            "subscription_id": sub.subscription_id,
                            "location": region,
                            "provider": provider,
                            "name": item["name"]["value"],
                            "localized_name": item["name"]["localizedValue"],
                            "current": item["currentValue"],
                            "limit": item["limit"],
                            "unit": item["unit"],
                        }
                    )
            quotas = _served(client, _usages_path(sub.subscription_id, region, ML, "quotas"))
            families = {
                r["name"]: r["limit"]
                for r in truth
                if (r["subscription_id"], r["location"], r["provider"]) == (sub.subscription_id, region, ML)
                and r["name"] != "totalCores"
            }
            assert {q["name"]["value"]: q["limit"] for q in quotas} == families
    assert served == truth
    assert all(isinstance(r["current"], int) and isinstance(r["limit"], int) for r in truth)
    # As in Azure's example (ml/spec_2025-09-01_Usage_list.json), each workspace's share of a family
    # repeats its name.value and limit, under the workspace's id: a breakdown, never above the family.
    assert shares, "the tenant's managed deployments give workspace lines"
    for share, family in shares:
        assert (share["name"], share["limit"]) == (family["name"], family["limit"])
        assert "/workspaces/" in share["id"] and 0 < share["currentValue"] <= family["currentValue"]


def test_every_workspace_region_answers_and_others_are_empty(client: Client, server: EmulatorServer) -> None:
    tenant = server.tenant
    assert tenant.quota_regions == {w.location for w in tenant.workspaces}
    sub = tenant.subscriptions[0].subscription_id
    for provider in (ML_PROVIDER, COMPUTE_PROVIDER):
        assert client.get(_usages_path(sub, "australiaeast", provider)).json() == {"value": [], "nextLink": None}
    answer = client.get(_usages_path("00000000-0000-0000-0000-000000000000", "eastus2", ML_PROVIDER))
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "SubscriptionNotFound"


def test_scenario_levels(tenant: Tenant) -> None:
    rows = tenant.quota_truth()
    families = [r for r in rows if r["name"] not in ("totalCores", "cores")]
    high = {
        (_role(tenant, r["subscription_id"]), r["location"], r["provider"], r["name"])
        for r in families
        if (_share(r) or 0) >= 0.8
    }
    assert high == {
        ("contoso-ai-prod", "eastus2", ML_PROVIDER, "standardDSv2Family"),
        ("contoso-ai-prod", "eastus2", COMPUTE_PROVIDER, "standardNCSv3Family"),
        ("contoso-ai-dev", "westus3", ML_PROVIDER, "standardNCADSA100v4Family"),
    }
    critical = [r for r in families if (_share(r) or 0) >= 0.95]
    assert [(_role(tenant, r["subscription_id"]), r["name"], r["current"], r["limit"]) for r in critical] == [
        ("contoso-ai-dev", "standardNCADSA100v4Family", 96, 100)
    ]
    unlimited = [r for r in families if r["limit"] == -1]
    assert [(_role(tenant, r["subscription_id"]), r["location"], r["name"]) for r in unlimited] == [
        ("contoso-ai-research", "eastus2", "standardFSv2Family")
    ]
    shares = [s for s in map(_share, rows) if s is not None]
    assert sum(1 for s in shares if s < 0.5) > 0.9 * len(shares)  # most are low
    assert any(r["limit"] == 0 for r in families)  # GPU families without quota, as in Azure
    totals = [r for r in rows if r["name"] in ("totalCores", "cores")]
    assert all(0 < r["current"] < 0.5 * r["limit"] for r in totals)


def test_totals_and_managed_deployments(tenant: Tenant) -> None:
    rows = tenant.quota_truth()
    by_scope: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        by_scope.setdefault((r["subscription_id"], r["location"], r["provider"]), []).append(r)
    for scope in by_scope.values():
        total, *families = scope
        assert total["name"] in ("totalCores", "cores") and total["current"] == sum(f["current"] for f in families)
    assert len(tenant.online_deployments) >= 2
    assert len({(d.location, VM_SIZES[d.vm_size].family) for d in tenant.online_deployments}) == len(
        tenant.online_deployments
    )
    # Deployments count in Azure ML usage only (ML quota is separate from VM quota).
    cores: Counter[tuple[str, str, str]] = Counter()
    for d in tenant.online_deployments:
        size = VM_SIZES[d.vm_size]
        cores[(d.subscription_id, d.location, size.family)] += size.cores * d.instance_count
    scaled = tenant.online_deployments[0]
    before = {(r["subscription_id"], r["location"], r["provider"], r["name"]): r["current"] for r in rows}
    tenant.online_deployments = [replace(d, instance_count=0) if d is scaled else d for d in tenant.online_deployments]
    after = {
        (r["subscription_id"], r["location"], r["provider"], r["name"]): r["current"] for r in tenant.quota_truth()
    }
    family = VM_SIZES[scaled.vm_size].family
    moved = {key: before[key] - after[key] for key in before if before[key] != after[key]}
    key = (scaled.subscription_id, scaled.location)
    assert moved == {
        (*key, ML_PROVIDER, family): cores[(*key, family)],
        (*key, ML_PROVIDER, "totalCores"): cores[(*key, family)],
    }


@pytest.mark.parametrize("count", [1, 2, 4, 7])
def test_every_tenant_size_has_the_scenarios(count: int) -> None:
    tenant = generate_tenant(TenantSpec(today=TODAY, subscriptions=count))
    families = [r for r in tenant.quota_truth() if r["name"] not in ("totalCores", "cores")]
    assert len([r for r in families if (_share(r) or 0) >= 0.95]) == 1
    assert len([r for r in families if (_share(r) or 0) >= 0.8]) == 3
    assert len([r for r in families if r["limit"] == -1]) == 1


def test_quota_is_deterministic_and_leaves_other_scopes_alone() -> None:
    a = generate_tenant(TenantSpec(today=TODAY)).quota_truth()
    assert a == generate_tenant(TenantSpec(today=TODAY)).quota_truth()
    assert a != generate_tenant(TenantSpec(seed=7, today=TODAY)).quota_truth()
    big = generate_tenant(TenantSpec(today=TODAY, extra_projects_per_subscription=3)).quota_truth()
    assert big == a  # the scale-out hubs sit in a region the tenant already has


def test_faults_and_stats_cover_the_quota_routes(client: Client, server: EmulatorServer) -> None:
    sub = server.tenant.subscriptions[0].subscription_id
    path = _usages_path(sub, "eastus2", ML_PROVIDER)
    server.stats.clear()
    server.faults.throttle(1, retry_after=3, header="retry-after", path=r"/locations/[^/]+/usages$")
    throttled = client.get(path)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    server.faults.server_error(1, status=503, path=r"/Microsoft\.Compute/")
    assert client.get(_usages_path(sub, "eastus2", COMPUTE_PROVIDER)).status_code == 503
    assert client.get(path).status_code == 200
    assert client.get(_usages_path(sub, "eastus2", ML, "quotas")).status_code == 200
    assert server.stats.snapshot() == {
        "ml_usages": {"200": 1, "429": 1},
        "compute_usages": {"503": 1},
        "ml_quotas": {"200": 1},
    }
