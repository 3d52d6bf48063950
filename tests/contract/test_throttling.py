"""Cost Management's rate-limit headers as Azure spells them pace every window they name."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.azure import throttling
from collector.azure.throttling import RETRY_AFTER_HEADERS, QpuMeter, parse_remaining
from tests.contract.conftest import recorded_headers, recorded_interactions

# A real qpu-remaining header (issue 19), and the spelling of Learn's examples.
REAL = "QueriesPerHour:496,QueriesPerMin:37,QueriesPer10Sec:11"
LEARN = "QueriesPer10Sec:11,QueriesPer1Min:59,QueriesPer1Hour:599"


def test_every_spelling_names_its_window() -> None:
    assert parse_remaining(REAL) == {3600: 496, 60: 37, 10: 11}
    assert parse_remaining(LEARN) == {10: 11, 60: 59, 3600: 599}


@pytest.mark.parametrize(
    ("header", "wait"),
    [
        ("QueriesPerHour:496,QueriesPerMin:0,QueriesPer10Sec:11", 60),
        ("QueriesPerHour:0,QueriesPerMin:37,QueriesPer10Sec:11", 3600),
        ("QueriesPerHour:496,QueriesPerMin:37,QueriesPer10Sec:0", 10),
    ],
)
def test_a_spent_window_is_waited_out_before_the_next_query(
    monkeypatch: pytest.MonkeyPatch, header: str, wait: int
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(throttling.time, "sleep", slept.append)
    meter = QpuMeter()
    meter.record({throttling.QPU_REMAINING: header, throttling.QPU_CONSUMED: "1"}, 200)
    assert meter.wait_for_budget() > 0
    assert slept and wait - 1 < slept[0] <= wait


def test_a_share_keeps_the_rest_of_each_window_for_other_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttling.time, "sleep", lambda _s: None)
    meter = QpuMeter(share=0.5)  # half of 60 per minute: 30 are left to others
    meter.record({throttling.QPU_REMAINING: "QueriesPerHour:496,QueriesPerMin:30,QueriesPer10Sec:11"}, 200)
    assert meter.wait_for_budget() > 50
    meter.record({throttling.QPU_REMAINING: REAL}, 200)
    assert meter.wait_for_budget() == 0


def test_the_recorded_query_carries_retry_after_headers_costwatch_honours(contract: Path) -> None:
    # Source: Azure/azure-cli-extensions, test_data_aggregation_in_subscription_scope_custome_timeframe.yaml
    # (real session, 2020-05-23): a 200 with the entity and tenant retry-after headers.
    interactions = recorded_interactions(
        contract / "costmanagement",
        "azure-cli-extensions_test_data_aggregation_in_subscription_scope_custome_timeframe.yaml",
    )
    query = next(i for i in interactions if i["request"]["method"] == "POST")
    headers = {name.lower() for name in recorded_headers(query)}
    waits = [h for h in RETRY_AFTER_HEADERS if h in headers]
    assert waits == [
        "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after",
        "x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after",
    ]
