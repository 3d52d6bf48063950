"""The synthetic tenant: determinism, the attribution scenarios, cost shapes, restatement, truth."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator import Tenant, TenantSpec, generate_tenant
from emulator.catalog import CATALOG, EASTUS2, SWEDENCENTRAL, WESTUS3
from emulator.costs import UNATTRIBUTED, is_final, restated_cost

from .conftest import TODAY


def _all_records(tenant: Tenant) -> list:
    return [
        r
        for s in tenant.subscriptions
        for r in tenant.cost_records(s.subscription_id, tenant.history_start, tenant.history_end)
    ]


def _saas(tenant: Tenant, project: str, model: str):
    return next(s for s in tenant.saas_resources if s.true_project == project and s.expected_model == model)


def test_same_seed_same_tenant_other_seed_other_tenant() -> None:
    a, b = generate_tenant(TenantSpec(seed=7, today=TODAY)), generate_tenant(TenantSpec(seed=7, today=TODAY))
    assert a.tenant_id == b.tenant_id
    assert [s.id for s in a.saas_resources] == [s.id for s in b.saas_resources]
    assert _all_records(a) == _all_records(b)
    c = generate_tenant(TenantSpec(seed=8, today=TODAY))
    assert c.tenant_id != a.tenant_id
    assert {s.subscription_id for s in c.subscriptions}.isdisjoint({s.subscription_id for s in a.subscriptions})
    assert _all_records(c) != _all_records(a)


def test_scaling_out_leaves_the_base_tenant_unchanged() -> None:
    base = generate_tenant(TenantSpec(today=TODAY))
    big = generate_tenant(TenantSpec(today=TODAY, extra_projects_per_subscription=5))
    assert len(big.projects) == len(base.projects) + 5 * len(base.subscriptions)
    assert [s.id for s in base.saas_resources] == [s.id for s in big.saas_resources[: len(base.saas_resources)]]
    sub = base.subscriptions[0].subscription_id
    base_ids = {s.id.lower() for s in base.saas_resources}
    kept = [
        r
        for r in big.cost_records(sub, big.history_start, big.history_end)
        if r.resource_id in base_ids or "storage" in r.resource_id
    ]
    assert kept == [
        r
        for r in base.cost_records(sub, base.history_start, base.history_end)
        if r.resource_id in base_ids or "storage" in r.resource_id
    ]
    assert len({p.name for p in big.projects}) == len(big.projects)


def test_history_runs_from_the_first_of_the_month_to_yesterday() -> None:
    tenant = generate_tenant(TenantSpec(today=TODAY, history_months=3))
    assert (tenant.history_start, tenant.history_end) == (date(2025, 2, 1), date(2025, 5, 19))
    days = {r.usage_date for r in _all_records(tenant)}
    assert min(days) == date(2025, 2, 1) and max(days) == date(2025, 5, 19)
    assert generate_tenant(TenantSpec()).today == datetime.now(UTC).date()


def test_subscriptions_currencies_and_names() -> None:
    tenant = generate_tenant(TenantSpec(today=TODAY, subscriptions=5))
    assert [s.currency for s in tenant.subscriptions] == ["USD"] * 4 + ["EUR"]
    assert all(s.display_name.startswith("contoso-ai-") for s in tenant.subscriptions)
    assert len({s.display_name for s in tenant.subscriptions}) == 5
    for sub in tenant.subscriptions:
        currencies = {r.currency for r in tenant.cost_records(sub.subscription_id, date(2025, 2, 1), TODAY)}
        assert currencies == {sub.currency}


def test_hubs_projects_and_their_resource_groups(tenant: Tenant) -> None:
    hubs = {h.id: h for h in tenant.hubs}
    assert tenant.projects and all(h.kind == "Hub" for h in hubs.values())
    plain = [p for p in tenant.projects if p.kind == "Default"]
    assert len(plain) == 1 and plain[0].hub_id is None  # a plain Azure ML workspace, in its own group
    assert all(plain[0].resource_group != h.resource_group for h in hubs.values())
    for project in (p for p in tenant.projects if p.kind == "Project"):
        hub = hubs[project.hub_id or ""]
        assert project.resource_group == hub.resource_group  # AI Studio's layout
        assert project.subscription_id == hub.subscription_id
    assert len({p.name for p in tenant.projects}) == len(tenant.projects)
    per_sub = defaultdict(list)
    for hub in hubs.values():
        per_sub[hub.subscription_id].append(hub)
    assert all(1 <= len(h) <= 2 for h in per_sub.values())
    assert len({(h.subscription_id, h.resource_group) for h in hubs.values()}) == len(hubs)


def test_models_are_offered_where_azure_offers_them(tenant: Tenant) -> None:
    project_region = {p.name: p.location for p in tenant.projects}
    for endpoint in tenant.serverless_endpoints:
        model = endpoint.model_id.split("/models/")[1].split("/")[0]
        region = project_region[endpoint.project]
        if model.startswith("Meta-Llama-3"):
            assert region in (EASTUS2, SWEDENCENTRAL)
        elif model.startswith("Llama-2"):
            assert region in (EASTUS2, WESTUS3)
        assert region in CATALOG[model].regions


def test_each_marketplace_subscription_has_one_saas_resource_and_one_endpoint(tenant: Tenant) -> None:
    by_msub = {s.marketplace_subscription_id: s for s in tenant.saas_resources}
    endpoints = {e.marketplace_subscription_id: e for e in tenant.serverless_endpoints}
    assert set(by_msub) == set(endpoints) == {m.id for m in tenant.marketplace_subscriptions}
    for msub in tenant.marketplace_subscriptions:
        saas = by_msub[msub.id]
        project = next(p for p in tenant.projects if p.name == msub.project)
        assert saas.resource_group == project.resource_group
        assert saas.name.lower().startswith(msub.offer_id) and len(saas.name) == len(saas.offer_id) + 37
        assert endpoints[msub.id].model_id == msub.model_id
    per_project: dict[str, int] = defaultdict(int)
    for msub in tenant.marketplace_subscriptions:
        per_project[msub.project] += 1
    assert set(per_project.values()) <= {1, 2, 3}
    names = [s.name for s in tenant.saas_resources]
    assert any(n != n.lower() for n in names) and any(n == n.lower() for n in names)  # case varies


def test_exactly_one_versioned_model_id_and_one_suspended_subscription(tenant: Tenant) -> None:
    versioned = [m for m in tenant.marketplace_subscriptions if "/versions/" in m.model_id]
    assert len(versioned) == 1 and versioned[0].model_id.endswith("/versions/2")
    saas = next(s for s in tenant.saas_resources if s.marketplace_subscription_id == versioned[0].id)
    assert saas.expected_model == versioned[0].model_id.split("/models/")[1].split("/versions/")[0]
    assert [m.status for m in tenant.marketplace_subscriptions].count("Suspended") == 1
    publishers = {m.publisher_id for m in tenant.marketplace_subscriptions}
    assert {"metagenai", "000-000", "cohere", "ai21"} <= publishers


def test_scenario_tag_then_elimination(tenant: Tenant) -> None:
    tagged = _saas(tenant, "proj-chatbot", "Meta-Llama-3-70B-Instruct")
    other = _saas(tenant, "proj-search", "Meta-Llama-3-70B-Instruct")
    assert tagged.resource_group == other.resource_group and tagged.subscription_id == other.subscription_id
    assert tagged.tags == {"costwatch-project": "proj-chatbot"} and not other.tags
    assert (tagged.expected_project, other.expected_project) == ("proj-chatbot", "proj-search")


def test_scenario_single_candidate(tenant: Tenant) -> None:
    saas = _saas(tenant, "proj-summarizer", "Meta-Llama-3-8B-Instruct")
    neighbours = [p for p in tenant.projects if p.resource_group == saas.resource_group]
    neighbours = [p for p in neighbours if p.subscription_id == saas.subscription_id]
    assert [p.name for p in neighbours] == ["proj-summarizer"]
    assert not saas.tags and saas.expected_project == "proj-summarizer"


def test_scenario_ambiguous_in_the_eur_subscription(tenant: Tenant) -> None:
    eur = tenant.subscriptions[-1]
    assert eur.currency == "EUR"
    legal = _saas(tenant, "proj-legal", "Llama-2-70b-chat")
    hr = _saas(tenant, "proj-hr", "Llama-2-70b-chat")
    assert legal.subscription_id == hr.subscription_id == eur.subscription_id
    assert legal.resource_group == hr.resource_group and not legal.tags and not hr.tags
    assert legal.expected_project == hr.expected_project == UNATTRIBUTED
    for s in tenant.saas_resources:
        if s.expected_project != UNATTRIBUTED:
            assert s.expected_project == s.true_project


def test_cost_rows_are_lower_cased_and_typed(tenant: Tenant) -> None:
    records = _all_records(tenant)
    assert records
    saas_ids = {s.id.lower() for s in tenant.saas_resources}
    assert any(s.id != s.id.lower() for s in tenant.saas_resources)  # inventory keeps mixed case
    for r in records:
        assert r.resource_id == r.resource_id.lower() and r.resource_group == r.resource_group.lower()
        assert isinstance(r.cost, Decimal) and isinstance(r.quantity, Decimal)
        assert r.charge_type in ("Usage", "Refund")
        if r.resource_id in saas_ids:
            assert (r.publisher_type, r.service_name) == ("Marketplace", "SaaS")
            # Composite, as Marketplace meters are: "<plan> - paygo-..." (issue 19.7)
            plan, _, meter = r.meter.partition(" - ")
            assert plan.endswith("-plan") and meter.startswith("paygo-")
    meters = {r.meter.partition(" - ")[2] for r in records}
    assert {
        "paygo-inference-input-tokens",
        "paygo-inference-output-tokens",
        "paygo-finetuned-model-inference-hosting",
        "paygo-finetuned-model-inference-input-tokens",
        "paygo-finetuned-model-inference-output-tokens",
    } <= meters
    assert any(r.meter_category == "Virtual Machines" for r in records)
    assert any(r.resource_type == "microsoft.storage/storageaccounts" for r in records)


def test_cost_is_quantity_times_price_and_survives_json_floats(tenant: Tenant) -> None:
    prices: dict[tuple[str, str], set[Decimal]] = defaultdict(set)
    for r in _all_records(tenant):
        assert Decimal(repr(float(r.cost))) == r.cost
        assert -int(r.cost.as_tuple().exponent) <= 10
        assert r.quantity != 0
        prices[(r.resource_id, r.meter)].add(r.cost / r.quantity)
    assert all(len(p) == 1 for p in prices.values())  # one unit price per resource meter


def test_one_refund_row(tenant: Tenant) -> None:
    refunds = [r for r in _all_records(tenant) if r.charge_type == "Refund"]
    assert len(refunds) == 1 and refunds[0].cost < 0


def test_weekends_are_quieter_and_a_spike_exists(tenant: Tenant) -> None:
    weekday: dict[str, list[Decimal]] = defaultdict(list)
    weekend: dict[str, list[Decimal]] = defaultdict(list)
    daily: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    for r in _all_records(tenant):
        if r.meter.endswith(" - paygo-inference-input-tokens") and r.charge_type == "Usage":
            (weekend if r.usage_date.weekday() >= 5 else weekday)[r.resource_id].append(r.cost)
            daily[(r.resource_id, r.usage_date)] += r.cost
    for resource, costs in weekend.items():
        assert sum(costs) / len(costs) < sum(weekday[resource]) / len(weekday[resource])
    per_resource = defaultdict(list)
    for (resource, _), cost in daily.items():
        per_resource[resource].append(cost)
    assert any(max(c) > 2 * sorted(c)[len(c) // 2] for c in per_resource.values())


def test_month_finality() -> None:
    assert is_final(date(2025, 4, 30), date(2025, 5, 6))
    assert not is_final(date(2025, 4, 30), date(2025, 5, 5))
    assert not is_final(date(2025, 5, 1), date(2025, 5, 20))
    assert is_final(date(2024, 12, 31), date(2025, 1, 6))


def test_restatement_changes_only_estimated_days(tenant: Tenant) -> None:
    before = _all_records(tenant)
    assert tenant.restate() == 1 and tenant.version == 1
    after = _all_records(tenant)
    assert len(before) == len(after)
    changed = 0
    for old, new in zip(before, after, strict=True):
        assert dataclasses.replace(old, cost=new.cost) == new
        if tenant.is_final(old.usage_date):
            assert new.cost == old.cost
        else:
            assert new.cost == (old.cost * Decimal("1.01")).quantize(Decimal("1E-10"))
            changed += 1
            assert Decimal(repr(float(new.cost))) == new.cost
    assert changed > 0
    tenant.restate()
    assert _all_records(tenant) != after


@settings(database=None)  # leave no .hypothesis/ behind in the work tree
@given(st.decimals(min_value=-10_000, max_value=10_000, places=8, allow_nan=False), st.integers(0, 2_000))
def test_restated_costs_stay_json_float_exact(cost: Decimal, version: int) -> None:
    value = restated_cost(cost, version)
    assert Decimal(repr(float(value))) == value


def test_truth_by_project_and_by_subscription_agree_per_currency(tenant: Tenant) -> None:
    tenant.restate()
    start, end = tenant.history_start, tenant.history_end
    for include_other in (False, True):
        by_project = tenant.truth(["project"], start, end, include_other=include_other)
        by_sub = tenant.truth(["subscription"], start, end, include_other=include_other)
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for row in by_project:
            totals[row["currency"]] += row["cost"]
        other: dict[str, Decimal] = defaultdict(Decimal)
        for row in by_sub:
            other[row["currency"]] += row["cost"]
        assert totals == other and set(totals) == {"USD", "EUR"}


def test_truth_matches_the_raw_records_and_names_things(tenant: Tenant) -> None:
    start, end = date(2025, 3, 1), date(2025, 3, 31)
    rows = tenant.truth(["project", "model", "spend_kind", "day"], start, end, include_other=True)
    assert {r["spend_kind"] for r in rows} == {"marketplace", "managed_compute", "other"}
    for row in rows:
        assert set(row) == {"project", "model", "spend_kind", "day", "currency", "cost"}
        if row["spend_kind"] == "other":
            assert row["project"] is None and row["model"] is None
        if row["spend_kind"] == "managed_compute":
            assert row["project"] in ("proj-codegen", "proj-rag") and row["model"] == "(managed compute)"
        assert start.isoformat() <= str(row["day"]) <= end.isoformat()
    raw = sum(
        (r.cost for s in tenant.subscriptions for r in tenant.cost_records(s.subscription_id, start, end)), Decimal(0)
    )
    assert sum((r["cost"] for r in rows), Decimal(0)) == raw
    without_other = tenant.truth(["currency"], start, end)
    assert all(set(r) == {"currency", "cost"} for r in without_other)
    projects = {r["project"] for r in tenant.truth(["project"], start, end)}
    assert UNATTRIBUTED in projects and None not in projects
    models = {r["model"] for r in tenant.truth(["model"], start, end)}
    assert "Meta-Llama-3-70B-Instruct" in models and "Llama-2-7b" in models


def test_truth_rejects_unknown_dimensions(tenant: Tenant) -> None:
    with pytest.raises(ValueError, match="unknown truth dimension"):
        tenant.truth(["team"], tenant.history_start, tenant.history_end)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_every_tenant_size_has_every_case_once(count: int) -> None:
    tenant = generate_tenant(TenantSpec(today=TODAY, subscriptions=count))
    assert len(tenant.subscriptions) == count
    assert [s.currency for s in tenant.subscriptions] == ["USD"] * (count - 1) + ["EUR"]
    assert len({s.display_name for s in tenant.subscriptions}) == count
    assert len({p.name for p in tenant.projects}) == len(tenant.projects)
    assert len({h.name for h in tenant.hubs}) == len(tenant.hubs)
    assert len([m for m in tenant.marketplace_subscriptions if "/versions/" in m.model_id]) == 1
    assert [m.status for m in tenant.marketplace_subscriptions].count("Suspended") == 1
    assert sorted(o.project for o in tenant.online_endpoints) == ["proj-codegen", "proj-rag"]
    assert len([r for r in _all_records(tenant) if r.charge_type == "Refund"]) == 1
    expected = {(s.true_project, s.expected_model): s.expected_project for s in tenant.saas_resources}
    assert expected[("proj-chatbot", "Meta-Llama-3-70B-Instruct")] == "proj-chatbot"
    assert expected[("proj-search", "Meta-Llama-3-70B-Instruct")] == "proj-search"
    assert expected[("proj-summarizer", "Meta-Llama-3-8B-Instruct")] == "proj-summarizer"
    assert expected[("proj-legal", "Llama-2-70b-chat")] == expected[("proj-hr", "Llama-2-70b-chat")] == UNATTRIBUTED
    eur = tenant.subscriptions[-1].subscription_id
    assert _saas(tenant, "proj-legal", "Llama-2-70b-chat").subscription_id == eur
    for hub in tenant.hubs:  # stacked blueprints keep one hub per resource group
        assert [
            h for h in tenant.hubs if (h.subscription_id, h.resource_group) == (hub.subscription_id, hub.resource_group)
        ] == [hub]
