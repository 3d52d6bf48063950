"""The collector's clock a few minutes off Azure's (no NTP, a VM resumed from a snapshot).

What the collector's clock decides: "today" (the restatement window, the last day asked for, which
months are final), the end of each metrics pull, and the times it stamps. Around midnight UTC a skew
of minutes puts the collector on another day than Azure, and at a month's end in another month. None
of that may cost a cent or double a row: the window always reaches Azure's today, a day Azure has no
data for yet is asked for harmlessly, and metrics pulls restart from what is stored (re-reading
`overlap_minutes`), not from the clock. Replicas' clocks against each other: tests/e2e/test_lease.py.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from collector import runs
from collector.db.models import CollectionRun, TrafficMinute
from collector.jobs.costs import collect
from collector.jobs.inventory import run_inventory
from collector.jobs.traffic import run_metrics
from collector.periods import default_window_start, floor_minute
from emulator import EmulatorServer
from tests.e2e.test_faults import _exact
from tests.emulated import emulator_at, history_start, settings_for

SKEW = timedelta(minutes=5)
MIDNIGHT = datetime(2026, 12, 1, tzinfo=UTC)  # a month's first midnight: the largest calendar jump


def _clocks(monkeypatch: pytest.MonkeyPatch, server: EmulatorServer, azure_at: datetime, skew: timedelta) -> None:
    """Azure (the emulator) lives at `azure_at` and the collector at `azure_at + skew`, both moving on
    at the real pace from now: the collector's clock is wherever costwatch reads it (collector.runs.utcnow,
    imported by name into each module)."""
    started = time.monotonic()

    def elapsed() -> timedelta:
        return timedelta(seconds=time.monotonic() - started)

    server.tenant.clock = lambda: (azure_at + elapsed()).timestamp()
    real = runs.utcnow
    skewed: Callable[[], datetime] = lambda: azure_at + skew + elapsed()  # noqa: E731
    for module in [m for name, m in sys.modules.items() if name.startswith("collector")]:
        if getattr(module, "utcnow", None) is real:
            monkeypatch.setattr(module, "utcnow", skewed)


CASES = [
    (MIDNIGHT + timedelta(minutes=2), -SKEW),  # Azure is in December; the collector still in November
    (MIDNIGHT - timedelta(minutes=2), SKEW),  # Azure is in November; the collector already in December
    (MIDNIGHT + timedelta(days=5, minutes=2), -SKEW),  # Azure's November is final; the collector says not yet
]
IDS = ["collector-in-last-month", "collector-in-next-month", "collector-before-final-day"]


@pytest.mark.fault("collector clock minutes off Azure's")
@pytest.mark.parametrize(("azure_at", "skew"), CASES, ids=IDS)
def test_costs_with_the_collector_clock_minutes_off_match_the_truth(
    db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch, azure_at: datetime, skew: timedelta
) -> None:
    with emulator_at(azure_at) as server:
        _clocks(monkeypatch, server, azure_at, skew)
        settings = settings_for(server, db_url)
        collector_today = (azure_at + skew).date()
        assert runs.utcnow().date() == collector_today != server.tenant.today  # the skew crosses midnight

        first = collect(settings, engine, since=history_start(server))  # the backfill, by its own clock
        assert first.status == "succeeded", first.failures
        _exact(engine, server)

        # The scheduled runs after it: the default window by the collector's clock, while Azure restates.
        assert default_window_start(collector_today) <= server.tenant.today.replace(day=1)
        again = collect(settings, engine)
        assert again.status == "succeeded" and again.rows_removed == 0, again.failures
        _exact(engine, server)
        server.tenant.restate()
        repaired = collect(settings, engine)
        assert repaired.status == "succeeded", repaired.failures
        _exact(engine, server)
        with Session(engine) as session:  # the records say which days each run covered, by its clock
            windows = session.execute(
                select(CollectionRun.window_to).where(CollectionRun.kind == "costs").order_by(CollectionRun.id)
            ).scalars()
            assert list(windows) == [collector_today] * 3


@pytest.mark.fault("collector clock minutes off Azure's")
@pytest.mark.parametrize("skew", [SKEW, -SKEW], ids=["collector-5-min-fast", "collector-5-min-slow"])
def test_traffic_with_the_collector_clock_minutes_off_has_no_gap_and_no_double(
    db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch, skew: timedelta
) -> None:
    azure_at = MIDNIGHT + timedelta(minutes=2)
    with emulator_at(azure_at) as server:
        settings = settings_for(server, db_url, metrics={"first_lookback_hours": 2})
        assert run_inventory(settings, engine).status == "succeeded"
        endpoint = next(e for e in server.tenant.serverless_endpoints if e.traffic == "tokens_hot")
        start = floor_minute(azure_at + skew) - timedelta(hours=2)  # where the collector's first pull begins
        for later in (timedelta(0), timedelta(minutes=7), timedelta(minutes=40)):  # three pulls, minutes apart
            moment = azure_at + later
            _clocks(monkeypatch, server, moment, skew)
            summary = run_metrics(settings, engine)
            assert summary.status == "succeeded", summary.failures
            # Everything Azure had up to the older of the two clocks, each minute once, nothing missing.
            reach = floor_minute(min(moment, moment + skew))
            expected = {
                m["minute"]: (m["input_tokens"], m["output_tokens"], m["requests"])
                for m in server.tenant.metrics_truth(endpoint.id, start, reach)
            }
            with Session(engine) as session:
                rows = session.scalars(
                    select(TrafficMinute).where(
                        TrafficMinute.deployment_id == endpoint.id.lower(), TrafficMinute.minute < reach
                    )
                ).all()
                doubled = session.execute(
                    select(TrafficMinute.deployment_id, TrafficMinute.minute)
                    .group_by(TrafficMinute.deployment_id, TrafficMinute.minute)
                    .having(func.count() > 1)
                ).all()
            got = {runs.as_utc(r.minute): (r.input_tokens, r.output_tokens, r.requests) for r in rows}
            assert got == expected, f"after the pull at {moment} (collector at {moment + skew})"
            assert doubled == []
            assert sum(t for t, _, _ in got.values()) > 0  # the endpoint did have traffic in the window
