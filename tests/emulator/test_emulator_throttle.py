"""QPU accounting: sliding windows, remaining/consumed headers, 429 with retry-after."""

from __future__ import annotations

from datetime import date

from emulator import EmulatorServer, TenantSpec, generate_tenant
from emulator.throttle import CONSUMED_HEADER, REMAINING_HEADER, RETRY_HEADER, QpuMeter

from .conftest import TODAY, Client, query_body


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_windows_refuse_without_charging_and_say_when_to_retry() -> None:
    clock = FakeClock()
    meter = QpuMeter(per_10s=5, per_minute=8, per_hour=100, clock=clock)
    assert meter.charge(3).allowed
    clock.now += 2
    assert meter.charge(2).allowed
    refused = meter.charge(1)
    assert not refused.allowed and refused.consumed == 0
    assert refused.retry_after == 8  # the first 3 QPU leave the 10 s window 8 s from now
    assert dict(refused.remaining)["QueriesPer10Sec"] == 0
    clock.now += 8
    ok = meter.charge(3)
    assert ok.allowed and ok.consumed == 3
    # 10 s budget has room now, the minute has 8 - 8 = 0 left: wait for the minute window.
    refused = meter.charge(1)
    assert not refused.allowed and refused.retry_after == 50
    assert refused.headers()[RETRY_HEADER] == "50"


def test_charges_are_at_least_one_and_at_most_a_window() -> None:
    meter = QpuMeter(per_10s=12, per_minute=60, per_hour=600, clock=FakeClock())
    assert meter.charge(0).consumed == 1
    assert not meter.charge(13).allowed  # clamped to 12, which no longer fits
    verdict = meter.peek()
    assert verdict.headers()[REMAINING_HEADER] == "QueriesPerHour:599,QueriesPerMin:59,QueriesPer10Sec:11"


def test_over_budget_query_gets_429_with_qpu_retry_after_then_recovers() -> None:
    clock = FakeClock()
    spec = TenantSpec(today=TODAY, qpu_per_10s=4, qpu_per_minute=100, qpu_per_hour=1000)
    with EmulatorServer(generate_tenant(spec), clock=clock) as server:
        client = Client(server)
        sub = server.tenant.subscriptions[0].subscription_id
        two_months = query_body(date(2025, 3, 1), date(2025, 4, 30))
        first = client.query(sub, two_months)
        assert first.status_code == 200
        assert first.headers[CONSUMED_HEADER] == "2"
        assert first.headers[REMAINING_HEADER] == "QueriesPerHour:998,QueriesPerMin:98,QueriesPer10Sec:2"
        assert client.query(sub, two_months).status_code == 200
        refused = client.query(sub, query_body(date(2025, 3, 1), date(2025, 3, 2)))
        assert refused.status_code == 429
        assert refused.headers["Content-Type"].startswith("application/json")
        assert refused.json()["error"]["code"] == "429"
        assert 1 <= int(refused.headers[RETRY_HEADER]) <= 10
        assert refused.headers[CONSUMED_HEADER] == "0"
        clock.now += 10
        again = client.query(sub, query_body(date(2025, 3, 1), date(2025, 3, 2)))
        assert again.status_code == 200 and again.headers[CONSUMED_HEADER] == "1"
        assert server.stats.count("cost_query", 429) == 1


def test_every_page_is_charged() -> None:
    spec = TenantSpec(today=TODAY, page_size=100, qpu_per_10s=1000, qpu_per_minute=1000, qpu_per_hour=1000)
    with EmulatorServer(generate_tenant(spec)) as server:
        client = Client(server)
        sub = server.tenant.subscriptions[0].subscription_id
        body = query_body(date(2025, 4, 1), date(2025, 5, 19), ["ResourceId", "Meter"])
        answer = client.query(sub, body).json()
        pages = 1
        while answer["properties"]["nextLink"]:
            answer = client.post(answer["properties"]["nextLink"], body).json()
            pages += 1
        assert pages > 2
        remaining = dict(item.split(":") for item in server.qpu.peek().headers()[REMAINING_HEADER].split(","))
        assert int(remaining["QueriesPer10Sec"]) == 1000 - 2 * pages
