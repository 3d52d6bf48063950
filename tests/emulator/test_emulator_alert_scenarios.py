"""The alerting scenarios: a cost anomaly on the last day that `calm()` takes back, an
endpoint throttled every hour, and a quiet tenant on which none of the rules fire."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from emulator import EmulatorServer, Tenant, TenantSpec, generate_tenant

from .conftest import ROOMY, TODAY, Client, query_body

TPM_LIMIT, RPM_LIMIT = 200_000, 1_000
NOW = datetime(2025, 5, 20, 15, 30, tzinfo=UTC)
# Two fortnights of `today`s: Mondays, month starts (Mar 1, Jun 1) and weekends among them.
FORTNIGHTS = [date(2025, 2, 24) + timedelta(days=k) for k in range(14)] + [
    date(2025, 5, 26) + timedelta(days=k) for k in range(14)
]

Key = tuple[str, str, str]


def _anomalies(tenant: Tenant) -> dict[Key, tuple[Decimal, Decimal]]:
    """costwatch's anomaly rule over the truth: per (project, model, currency), the latest day
    D against the same weekday of the four weeks before (all four needed). It fires when
    spend(D) > median + 3 x max(MAD, 10% of median) and spend(D) - median >= 10.
    Returns {key: (spend(D), median)} of what fires."""
    rows = tenant.truth(["project", "model", "day"], tenant.history_start, tenant.history_end)
    latest = max(date.fromisoformat(r["day"]) for r in rows)
    days = [latest - timedelta(days=7 * k) for k in range(5)]
    series: dict[Key, dict[date, Decimal]] = defaultdict(dict)
    for r in rows:
        day = date.fromisoformat(r["day"])
        if day in days:
            series[(r["project"], r["model"], r["currency"])][day] = r["cost"]
    fired = {}
    for key, by_day in series.items():
        past = [by_day.get(d) for d in days[1:]]
        if any(v is None for v in past):
            continue
        values = [v for v in past if v is not None]
        median = statistics.median(values)
        mad = statistics.median([abs(v - median) for v in values])
        spend = by_day.get(latest, Decimal(0))
        if spend > median + 3 * max(mad, median / 10) and spend - median >= 10:
            fired[key] = (spend, median)
    return fired


def _key(tenant: Tenant) -> Key:
    assert tenant.anomaly is not None
    return (tenant.anomaly["project"], tenant.anomaly["model"], tenant.anomaly["currency"])


# --- the cost anomaly ---------------------------------------------------------------------


def test_the_anomaly_is_chatbots_llama_on_the_last_day(tenant: Tenant) -> None:
    assert tenant.anomaly == {
        "project": "proj-chatbot",
        "model": "Meta-Llama-3-70B-Instruct",
        "currency": "USD",
        "day": tenant.history_end,
    }
    fired = _anomalies(tenant)
    assert set(fired) == {_key(tenant)}
    spend, median = fired[_key(tenant)]
    assert spend > 3 * median  # a plain 4x day, not a borderline one


@pytest.mark.parametrize("today", FORTNIGHTS, ids=str)
def test_only_the_anomaly_fires_whatever_today_is(today: date) -> None:
    for spec in (TenantSpec(today=today), TenantSpec(seed=7, today=today, subscriptions=2)):
        tenant = generate_tenant(spec)
        assert tenant.anomaly is not None and tenant.anomaly["day"] == tenant.history_end == today - timedelta(days=1)
        assert set(_anomalies(tenant)) == {_key(tenant)}
        assert tenant.calm() is True and tenant.calmed
        assert _anomalies(tenant) == {}


@pytest.mark.parametrize(
    "spec",
    [
        TenantSpec(today=TODAY, subscriptions=1),
        TenantSpec(today=TODAY, seed=3, subscriptions=5, extra_projects_per_subscription=3),
    ],
)
def test_every_tenant_size_has_the_one_anomaly(spec: TenantSpec) -> None:
    tenant = generate_tenant(spec)
    if spec.subscriptions == 1:  # the only subscription is the EUR one
        assert tenant.anomaly is not None and tenant.anomaly["currency"] == "EUR"
    assert set(_anomalies(tenant)) == {_key(tenant)}
    tenant.calm()
    assert _anomalies(tenant) == {}


def test_calm_restores_that_day_and_nothing_else(tenant: Tenant) -> None:
    by = ["project", "model", "meter", "day"]
    before = tenant.truth(by, tenant.history_start, tenant.history_end)
    calm_twin = generate_tenant(tenant.spec)
    assert calm_twin.calm() is True and calm_twin.calm() is False  # only once
    after = calm_twin.truth(by, tenant.history_start, tenant.history_end)
    assert len(before) == len(after)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert changed and all(b["cost"] > 3 * a["cost"] for b, a in changed)
    assert {(b["project"], b["model"], b["day"]) for b, _ in changed} == {
        ("proj-chatbot", "Meta-Llama-3-70B-Instruct", tenant.history_end.isoformat())
    }
    # The calm day is an ordinary day: like the same weekday a week before, give or take noise.
    calm_day = sum(a["cost"] for _, a in changed)
    week_before = sum(
        r["cost"]
        for r in after
        if (r["project"], r["model"]) == ("proj-chatbot", "Meta-Llama-3-70B-Instruct")
        and r["day"] == (tenant.history_end - timedelta(days=7)).isoformat()
    )
    assert Decimal("0.8") * week_before < calm_day < Decimal("1.25") * week_before


def test_the_anomaly_survives_restatement_and_calm_composes_with_it(tenant: Tenant) -> None:
    tenant.restate()
    assert set(_anomalies(tenant)) == {_key(tenant)}
    tenant.calm()
    tenant.restate()
    assert _anomalies(tenant) == {}
    assert tenant.version == 2


def test_calm_over_http_reaches_the_query_api() -> None:
    tenant = generate_tenant(TenantSpec(today=TODAY, **ROOMY))
    sub = next(s for s in tenant.subscriptions if s.display_name == "contoso-ai-prod").subscription_id
    day = tenant.history_end
    body = query_body(day, day, grouping=["ResourceId"])

    def served_total(client: Client) -> Decimal:
        answer = client.query(sub, body)
        assert answer.status_code == 200, answer.text
        return sum((Decimal(str(row[0])) for row in answer.json()["properties"]["rows"]), Decimal(0))

    def truth_total() -> Decimal:
        rows = tenant.truth(["subscription"], day, day, include_other=True)
        return sum((r["cost"] for r in rows if r["subscription"] == sub), Decimal(0))

    with EmulatorServer(tenant) as server:
        client = Client(server)
        spiky = served_total(client)
        assert spiky == truth_total()
        described = requests.get(f"{server.url}/_emulator/tenant", verify=str(server.ca_path)).json()
        assert described["anomaly"] == {**tenant.anomaly, "day": day.isoformat()} and not described["calmed"]
        assert described["throttledEndpointId"] == tenant.throttled_endpoint_id and not described["quiet"]
        calmed = requests.post(f"{server.url}/_emulator/calm", verify=str(server.ca_path))
        assert calmed.json() == {"calmed": True}
        calm = served_total(client)  # the same query again: not the cached answer
        assert calm == truth_total() and calm < spiky
        assert requests.post(f"{server.url}/_emulator/calm", verify=str(server.ca_path)).json() == {"calmed": False}


# --- throttling ---------------------------------------------------------------------------


def test_the_throttled_endpoint_reaches_its_limit_every_hour() -> None:
    tenant = generate_tenant(TenantSpec(today=TODAY))
    tenant.clock = NOW.timestamp
    endpoint_id = tenant.throttled_endpoint_id
    assert endpoint_id is not None
    endpoint = tenant.serverless_endpoint(endpoint_id)
    assert endpoint is not None and endpoint.traffic == "throttled"
    assert (endpoint.project, endpoint.model_id.rsplit("/", 1)[-1]) == ("proj-summarizer", "Meta-Llama-3-8B-Instruct")
    start = datetime(2025, 5, 17, tzinfo=UTC)  # a weekend and two weekdays, hour by hour
    rows = tenant.metrics_truth(endpoint_id, start, NOW.replace(minute=0))
    assert len(rows) % 60 == 0
    for hour in range(0, len(rows), 60):
        minutes = rows[hour : hour + 60]
        at_limit = [r for r in minutes if r["total_tokens"] >= TPM_LIMIT]
        assert len(at_limit) == 1 and at_limit[0]["total_tokens"] == TPM_LIMIT
        assert all(r["requests"] < RPM_LIMIT for r in minutes)
        assert all(r["total_tokens"] < 0.9 * TPM_LIMIT for r in minutes if r not in at_limit)
    # The other scenarios are as they were: only these three come near a limit.
    peaks = tenant.peak_truth(NOW - timedelta(hours=2), NOW)
    near = {k for k, p in peaks.items() if p["peak_tpm"] >= 0.9 * TPM_LIMIT or p["peak_rpm"] >= 0.9 * RPM_LIMIT}
    shapes = {e.id.lower(): e.traffic for e in tenant.serverless_endpoints}
    assert sorted(shapes[k] for k in near) == ["requests_hot", "throttled", "tokens_hot"]
    assert [k for k, p in peaks.items() if p["peak_tpm"] >= TPM_LIMIT] == [endpoint_id.lower()]


# --- the quiet tenant ---------------------------------------------------------------------


def _quiet(today: date = TODAY, **spec: Any) -> Tenant:
    return generate_tenant(TenantSpec(today=today, quiet=True, **spec))


def test_a_quiet_tenant_has_the_same_structure() -> None:
    loud, quiet = generate_tenant(TenantSpec(today=TODAY)), _quiet()
    for attribute in (
        "subscriptions",
        "workspaces",
        "online_endpoints",
        "online_deployments",
        "storage_accounts",
    ):
        assert getattr(quiet, attribute) == getattr(loud, attribute), attribute
    assert [(m.id, m.model_id) for m in quiet.marketplace_subscriptions] == [
        (m.id, m.model_id) for m in loud.marketplace_subscriptions
    ]
    assert [(s.id, s.tags, s.expected_project) for s in quiet.saas_resources] == [
        (s.id, s.tags, s.expected_project) for s in loud.saas_resources
    ]
    assert [e.id for e in quiet.serverless_endpoints] == [e.id for e in loud.serverless_endpoints]
    assert {e.traffic for e in quiet.serverless_endpoints} == {"normal", "quiet"}
    assert quiet.anomaly is None and quiet.throttled_endpoint_id is None and quiet.calm() is False
    assert quiet.quota_regions == loud.quota_regions
    assert [(u["subscription_id"], u["location"], u["provider"], u["name"]) for u in quiet.quota_truth()] == [
        (u["subscription_id"], u["location"], u["provider"], u["name"]) for u in loud.quota_truth()
    ]
    # The timeline is the same script.
    quiet.clock = loud.clock = NOW.timestamp
    while made := loud.step():
        assert [(c["kind"], c["resource_type"], c["new"]) for c in quiet.step()] == [
            (c["kind"], c["resource_type"], c["new"]) for c in made
        ]


def test_a_quiet_tenant_suspends_nothing_at_the_start() -> None:
    tenant = _quiet()
    assert {m.status for m in tenant.marketplace_subscriptions} == {"Subscribed"}
    assert {s.status for s in tenant.saas_resources} == {"Subscribed"}
    assert {e.endpoint_state for e in tenant.serverless_endpoints} == {"Online"}


@pytest.mark.parametrize(
    "spec",
    [
        TenantSpec(today=TODAY, quiet=True),
        TenantSpec(today=TODAY, quiet=True, seed=7, subscriptions=1),
        TenantSpec(today=TODAY, quiet=True, seed=3, subscriptions=2, extra_projects_per_subscription=2),
        TenantSpec(today=TODAY, quiet=True, seed=11, subscriptions=5),
    ],
)
def test_quiet_quota_stays_below_half_even_after_the_timeline(spec: TenantSpec) -> None:
    tenant = generate_tenant(spec)
    tenant.clock = NOW.timestamp
    while True:
        usages = tenant.quota_truth()
        assert usages
        assert all(u["limit"] > 0 and u["current"] < 0.5 * u["limit"] for u in usages), [
            u for u in usages if not (u["limit"] > 0 and u["current"] < 0.5 * u["limit"])
        ]
        if not tenant.step():
            break
    assert any(d.instance_count == 3 for d in tenant.online_deployments)  # the scale-out happened


def test_quiet_traffic_stays_below_half_of_both_limits() -> None:
    start, end = NOW - timedelta(days=14), NOW
    tenant = _quiet(**ROOMY)
    tenant.clock = start.timestamp
    while tenant.step():  # the endpoint step 2 adds is there for the fortnight too
        pass
    tenant.clock = end.timestamp
    assert tenant.serverless_endpoints
    for endpoint in tenant.serverless_endpoints:
        rows = tenant.metrics_truth(endpoint.id, start, end)
        assert max(r["total_tokens"] for r in rows) < 0.5 * TPM_LIMIT, endpoint.id
        assert max(r["requests"] for r in rows) < 0.5 * RPM_LIMIT, endpoint.id
    peaks = tenant.peak_truth(start, end)
    assert all(p["peak_tpm"] < 0.5 * TPM_LIMIT and p["peak_rpm"] < 0.5 * RPM_LIMIT for p in peaks.values())
    assert sum(p["peak_tpm"] > 0 for p in peaks.values()) >= len(peaks) - 1  # busy, just not near a limit


@pytest.mark.parametrize("today", FORTNIGHTS, ids=str)
def test_no_anomaly_on_a_quiet_tenant_whatever_today_is(today: date) -> None:
    for tenant in (_quiet(today), _quiet(today, seed=7, subscriptions=2)):
        assert _anomalies(tenant) == {}
        tenant.restate()
        assert _anomalies(tenant) == {}


def test_quiet_costs_keep_the_weekly_cycle_without_spikes() -> None:
    tenant = _quiet()
    rows = tenant.truth(["resource", "day"], tenant.history_start, tenant.history_end)
    by_resource: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for r in rows:
        by_resource[r["resource"]][date.fromisoformat(r["day"])] = r["cost"]
    refunds = 0
    for resource, days in by_resource.items():
        source = tenant.cost_source(resource)
        assert source is not None
        if source.refund is not None:  # the refund row may stay; its day is lower, not higher
            refunds += 1
            days = {d: c for d, c in days.items() if d != source.refund.day}
        weekday = [c for d, c in days.items() if d.weekday() < 5]
        weekend = [c for d, c in days.items() if d.weekday() >= 5]
        if any(not m.steady for m in source.meters):  # VM hours and hosting are flat
            assert max(weekend) < min(weekday)
        for d, cost in days.items():
            same_weekday = [c for e, c in days.items() if e.weekday() == d.weekday()]
            assert cost < Decimal("1.25") * statistics.median(same_weekday), (resource, d)
    assert refunds == 1
