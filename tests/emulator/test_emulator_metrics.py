"""Per-minute traffic metrics: the route serves `metrics_truth()`, peaks reach the scenario
levels, traffic is a pure function of (seed, endpoint, minute), and Azure's errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulator import EmulatorServer, Tenant, TenantSpec, generate_tenant

from .conftest import ROOMY, TODAY, Client

API = "2024-02-01"
ALL = "InputTokens,OutputTokens,TotalTokens,ModelRequests"
NOW = datetime(2025, 5, 20, 15, 30, 20, tzinfo=UTC)  # the wall clock of this module's tenants
DAY = (datetime(2025, 5, 19, tzinfo=UTC), datetime(2025, 5, 20, tzinfo=UTC))
TPM_LIMIT, RPM_LIMIT = 200_000, 1_000


def _tenant(**spec: Any) -> Tenant:
    tenant = generate_tenant(TenantSpec(today=TODAY, **spec))
    tenant.clock = NOW.timestamp
    return tenant


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(_tenant(**ROOMY)) as running:
        yield running


def _by_shape(tenant: Tenant, shape: str) -> str:
    return next(e.id for e in tenant.serverless_endpoints if e.traffic == shape)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _get(client: Client, endpoint_id: str, **params: str) -> Any:
    answer = client.get(f"{endpoint_id}/providers/Microsoft.Insights/metrics", params={"api-version": API, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _series(body: Any, aggregation: str = "total") -> dict[str, list[tuple[str, float]]]:
    return {
        m["name"]["value"]: [(p["timeStamp"], p[aggregation]) for p in m["timeseries"][0]["data"]]
        for m in body["value"]
    }


@pytest.mark.parametrize("shape", ["tokens_hot", "requests_hot", "throttled", "normal", "quiet", "idle"])
def test_served_minutes_equal_the_truth(client: Client, server: EmulatorServer, shape: str) -> None:
    endpoint = _by_shape(server.tenant, shape)
    body = _get(client, endpoint, timespan=f"{_stamp(DAY[0])}/{_stamp(DAY[1])}", interval="PT1M", metricnames=ALL)
    assert body["interval"] == "PT1M" and body["timespan"] == f"{_stamp(DAY[0])}/{_stamp(DAY[1])}"
    truth = server.tenant.metrics_truth(endpoint, *DAY)
    assert len(truth) == 1440
    stamps = [_stamp(r["minute"]) for r in truth]
    served = _series(body)
    for metric, key in [
        ("InputTokens", "input_tokens"),
        ("OutputTokens", "output_tokens"),
        ("TotalTokens", "total_tokens"),
        ("ModelRequests", "requests"),
    ]:
        assert served[metric] == [(s, float(r[key])) for s, r in zip(stamps, truth, strict=True)]
    for row in truth:
        assert row["total_tokens"] == row["input_tokens"] + row["output_tokens"]
        assert all(isinstance(row[k], int) for k in ("input_tokens", "output_tokens", "total_tokens", "requests"))
        assert (row["requests"] == 0) == (row["total_tokens"] == 0)


def test_hourly_buckets_sum_the_minutes(client: Client, server: EmulatorServer) -> None:
    endpoint = _by_shape(server.tenant, "tokens_hot")
    body = _get(
        client,
        endpoint,
        timespan=f"{_stamp(DAY[0])}/{_stamp(DAY[1])}",
        interval="PT1H",
        metricnames="TotalTokens",
        aggregation="Total,Maximum,Minimum,Average,Count",
    )
    points = body["value"][0]["timeseries"][0]["data"]
    truth = server.tenant.metrics_truth(endpoint, *DAY)
    assert len(points) == 24
    for hour, point in enumerate(points):
        minutes = [r["total_tokens"] for r in truth[hour * 60 : (hour + 1) * 60]]
        assert point == {
            "timeStamp": _stamp(DAY[0] + timedelta(hours=hour)),
            "total": float(sum(minutes)),
            "maximum": float(max(minutes)),
            "minimum": float(min(minutes)),
            "average": sum(minutes) / 60,
            "count": 60.0,
        }


def test_metric_names_are_case_insensitive(client: Client, server: EmulatorServer) -> None:
    endpoint = server.tenant.serverless_endpoints[0].id
    body = _get(client, endpoint.upper(), metricnames="modelrequests,TOTALTOKENS", timespan="PT10M")
    assert [m["name"]["value"] for m in body["value"]] == ["ModelRequests", "TotalTokens"]
    assert body["value"][0]["id"] == f"{endpoint}/providers/Microsoft.Insights/metrics/ModelRequests"
    assert body["namespace"] == "Microsoft.MachineLearningServices/workspaces/serverlessEndpoints"
    assert body["resourceregion"] == server.tenant.serverless_endpoints[0].location


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"metricnames": "InputTokens,Tokens"}, "Failed to find metric configuration for provider"),
        ({"metricnames": "ModelRequests", "interval": "PT2M"}, "Invalid interval"),
        ({"metricnames": "ModelRequests", "timespan": "yesterday"}, "invalid time interval"),
        ({"metricnames": "ModelRequests", "timespan": "2025-05-20T00:00:00Z/2025-05-19T00:00:00Z"}, "end must be"),
        ({"metricnames": "ModelRequests", "aggregation": "median"}, "Invalid aggregation"),
    ],
)
def test_bad_requests_get_400(client: Client, server: EmulatorServer, params: dict[str, str], message: str) -> None:
    endpoint = server.tenant.serverless_endpoints[0].id
    answer = client.get(f"{endpoint}/providers/Microsoft.Insights/metrics", params={"api-version": API, **params})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "BadRequest" and message in error["message"]
    if "Tokens" in params["metricnames"]:
        assert "metric 'Tokens'" in error["message"] and f"Valid metrics: {ALL}" in error["message"]


def test_unknown_endpoint_is_404(client: Client, server: EmulatorServer) -> None:
    project = server.tenant.projects[0].id
    answer = client.get(f"{project}/serverlessEndpoints/nope/providers/Microsoft.Insights/metrics?api-version={API}")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "ResourceNotFound"


def test_data_reaches_the_current_minute_minus_the_lag(client: Client, server: EmulatorServer) -> None:
    endpoint = _by_shape(server.tenant, "normal")
    body = _get(client, endpoint, timespan="2025-05-20T15:00:00Z/PT2H", metricnames="ModelRequests")
    stamps = [s for s, _ in _series(body)["ModelRequests"]]
    assert stamps[0] == "2025-05-20T15:00:00Z" and stamps[-1] == "2025-05-20T15:30:00Z" and len(stamps) == 31
    relative = _get(client, endpoint, timespan="PT1H", metricnames="ModelRequests")
    assert [s for s, _ in _series(relative)["ModelRequests"]][-1] == "2025-05-20T15:30:00Z"
    late = _tenant(metrics_lag_minutes=5)
    rows = late.metrics_truth(endpoint, datetime(2025, 5, 20, 15, tzinfo=UTC), datetime(2025, 5, 20, 17, tzinfo=UTC))
    assert rows[-1]["minute"] == datetime(2025, 5, 20, 15, 25, tzinfo=UTC)


def test_timespan_forms_and_offsets(client: Client, server: EmulatorServer) -> None:
    endpoint = server.tenant.serverless_endpoints[1].id
    expected = _series(_get(client, endpoint, timespan="2025-05-19T10:00:00Z/2025-05-19T11:00:00Z"))
    for timespan in ("2025-05-19T10:00:00Z/PT1H", "PT1H/2025-05-19T11:00:00Z", "2025-05-19T12:00:00+02:00/PT60M"):
        assert _series(_get(client, endpoint, timespan=timespan)) == expected
    # An unaligned start: PT1M buckets start at the minute holding it.
    unaligned = _series(_get(client, endpoint, timespan="2025-05-19T10:00:30.000Z/2025-05-19T11:00:00.000Z"))
    assert unaligned == expected


def test_traffic_is_a_pure_function_of_seed_endpoint_and_minute() -> None:
    a, b = _tenant(), _tenant()
    endpoint = _by_shape(a, "tokens_hot")
    day = a.metrics_truth(endpoint, *DAY)
    assert day == b.metrics_truth(endpoint, *DAY)
    inner = a.metrics_truth(endpoint, DAY[0] + timedelta(hours=5), DAY[0] + timedelta(hours=6))
    assert inner == day[300:360]
    b.clock = (NOW + timedelta(days=3)).timestamp  # later reads never change the past
    assert b.metrics_truth(endpoint, *DAY) == day
    assert generate_tenant(TenantSpec(seed=7, today=TODAY)).serverless_endpoints[0].id != endpoint
    other = _tenant(seed=7)
    other_endpoint = _by_shape(other, "tokens_hot")
    assert [r["total_tokens"] for r in other.metrics_truth(other_endpoint, *DAY)] != [r["total_tokens"] for r in day]


def test_peaks_reach_the_scenario_levels() -> None:
    tenant = _tenant()
    start = NOW - timedelta(hours=6)  # holds whole UTC hours, each with its burst minute
    peaks = tenant.peak_truth(start, NOW)
    assert set(peaks) == {e.id.lower() for e in tenant.serverless_endpoints}
    tokens_hot = peaks[_by_shape(tenant, "tokens_hot").lower()]
    requests_hot = peaks[_by_shape(tenant, "requests_hot").lower()]
    assert 0.9 * TPM_LIMIT <= tokens_hot["peak_tpm"] <= TPM_LIMIT
    assert 0.9 * RPM_LIMIT <= requests_hot["peak_rpm"] <= RPM_LIMIT
    throttled = peaks[_by_shape(tenant, "throttled").lower()]
    assert throttled["peak_tpm"] == TPM_LIMIT and throttled["peak_rpm"] < 0.9 * RPM_LIMIT
    calm = [p for key, p in peaks.items() if p not in (tokens_hot, requests_hot, throttled)]
    assert all(p["peak_tpm"] < 0.9 * TPM_LIMIT and p["peak_rpm"] < 0.9 * RPM_LIMIT for p in calm)
    assert peaks[_by_shape(tenant, "idle").lower()] == {"peak_tpm": 0, "peak_rpm": 0}
    for e in tenant.serverless_endpoints:
        rows = tenant.metrics_truth(e.id, start, NOW)
        assert peaks[e.id.lower()] == {
            "peak_tpm": max(r["total_tokens"] for r in rows),
            "peak_rpm": max(r["requests"] for r in rows),
        }


def test_shapes_daily_cycle_quiet_minutes_and_hourly_bursts() -> None:
    tenant = _tenant()
    week = (datetime(2025, 5, 12, tzinfo=UTC), datetime(2025, 5, 19, tzinfo=UTC))  # Monday to Monday
    hot = tenant.metrics_truth(_by_shape(tenant, "tokens_hot"), *week)
    for hour in range(0, len(hot), 60):
        assert max(r["total_tokens"] for r in hot[hour : hour + 60]) >= 0.9 * TPM_LIMIT
    normal = tenant.metrics_truth(_by_shape(tenant, "normal"), *week)
    by_hour = [sum(r["requests"] for r in normal if r["minute"].hour == h) for h in range(24)]
    assert max(by_hour) > 4 * min(by_hour)  # a daily cycle
    weekdays = sum(r["requests"] for r in normal if r["minute"].weekday() < 5) / 5
    weekend = sum(r["requests"] for r in normal if r["minute"].weekday() >= 5) / 2
    assert weekend < 0.5 * weekdays
    quiet = tenant.metrics_truth(_by_shape(tenant, "quiet"), *week)
    zero = sum(1 for r in quiet if r["requests"] == 0)
    assert 0.8 * len(quiet) < zero < len(quiet)


def test_fourteen_days_per_minute_come_in_one_answer(client: Client, server: EmulatorServer) -> None:
    endpoint = _by_shape(server.tenant, "tokens_hot")
    body = _get(
        client, endpoint, timespan="2025-05-06T00:00:00Z/2025-05-20T00:00:00Z", interval="PT1M", metricnames=ALL
    )
    assert [len(m["timeseries"][0]["data"]) for m in body["value"]] == [14 * 1440] * 4


def test_faults_and_stats_cover_the_metrics_route(client: Client, server: EmulatorServer) -> None:
    endpoint = server.tenant.serverless_endpoints[0].id
    server.stats.clear()
    server.faults.throttle(1, retry_after=2, header="retry-after", path=r"/providers/Microsoft\.Insights/metrics$")
    server.faults.server_error(1, status=500, path=r"/metrics$")
    url = f"{endpoint}/providers/Microsoft.Insights/metrics?api-version={API}&metricnames=ModelRequests"
    assert client.get(url).status_code == 429  # faults fire in the order they were set
    assert client.get(url).status_code == 500
    assert client.get(url).status_code == 200
    assert client.get(url + "&interval=PT3M").status_code == 400
    assert server.stats.snapshot() == {"metrics": {"200": 1, "400": 1, "429": 1, "500": 1}}
