"""Leader election: one holder at a time; a dead holder's lease is taken over once it expires, however
far apart the replicas' clocks are."""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from collector import runs
from collector.lease import Lease


def test_only_one_of_two_replicas_leads(engine: Engine) -> None:
    first, second = Lease(engine, 30, holder="a"), Lease(engine, 30, holder="b")
    assert first.acquire_or_renew() is True
    assert second.acquire_or_renew() is False
    assert first.acquire_or_renew() is True  # renewing keeps it


def test_an_expired_lease_is_taken_over(engine: Engine) -> None:
    dead, heir = Lease(engine, 1, holder="dead"), Lease(engine, 1, holder="heir")
    assert dead.acquire_or_renew()
    assert not heir.acquire_or_renew()
    time.sleep(1.2)  # the dead holder never renews
    assert heir.acquire_or_renew()
    assert not dead.acquire_or_renew()  # and cannot take it back while the heir renews


def test_a_released_lease_is_free_at_once(engine: Engine) -> None:
    leaving, next_one = Lease(engine, 60, holder="leaving"), Lease(engine, 60, holder="next")
    assert leaving.acquire_or_renew()
    leaving.release()
    assert next_one.acquire_or_renew()


def test_racing_replicas_elect_exactly_one(engine: Engine) -> None:
    leases = [Lease(engine, 30, holder=f"r{i}") for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda lease: lease.acquire_or_renew(), leases))
    assert won.count(True) == 1


# --- replicas whose clocks disagree ---------------------------------------------------------------

TTL = 1  # seconds: short, so that a takeover fits a test
RENEW = 0.1
MINUTES = timedelta(minutes=5)


@dataclass
class Replica:
    """A scheduler replica reduced to its lease, renewing every RENEW seconds on its own clock."""

    lease: Lease
    skew: timedelta  # how far its wall clock is off
    renewing: threading.Event = field(default_factory=threading.Event)
    led: list[tuple[float, float]] = field(default_factory=list)  # (from, until) it believed it led, monotonic
    clock_read: datetime | None = None

    def run(self, stop: threading.Event, clocks: threading.local) -> None:
        clocks.skew = self.skew
        self.clock_read = runs.utcnow()
        while not stop.is_set():
            if self.renewing.is_set():
                asked = time.monotonic()
                if self.lease.acquire_or_renew():
                    self.led.append((time.monotonic(), asked + TTL))
            time.sleep(RENEW)


def _per_thread_clocks(monkeypatch: pytest.MonkeyPatch) -> threading.local:
    """Give each thread its own wall clock wherever costwatch reads one (collector.runs.utcnow, which
    modules import by name): a thread is a replica on a host whose clock is `skew` off."""
    clocks = threading.local()
    real = runs.utcnow

    def skewed() -> datetime:
        return real() + getattr(clocks, "skew", timedelta(0))

    for module in [m for name, m in sys.modules.items() if name.startswith("collector")]:
        if getattr(module, "utcnow", None) is real:
            monkeypatch.setattr(module, "utcnow", skewed)
    return clocks


def _wait(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.02)


@pytest.mark.fault("clock skew between replicas")
@pytest.mark.parametrize(
    ("first_skew", "second_skew"),
    [(timedelta(0), MINUTES), (timedelta(0), -MINUTES), (MINUTES, timedelta(0)), (-MINUTES, timedelta(0))],
    ids=["heir-5-min-fast", "heir-5-min-slow", "leader-5-min-fast", "leader-5-min-slow"],
)
def test_replicas_with_clocks_minutes_apart_never_both_lead_and_take_over_in_time(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, first_skew: timedelta, second_skew: timedelta
) -> None:
    clocks = _per_thread_clocks(monkeypatch)
    first = Replica(Lease(engine, TTL, holder="first"), first_skew)
    second = Replica(Lease(engine, TTL, holder="second"), second_skew)
    stop = threading.Event()
    threads = [threading.Thread(target=r.run, args=(stop, clocks), daemon=True) for r in (first, second)]
    try:
        for thread in threads:
            thread.start()
        first.renewing.set()
        _wait(lambda: first.led, 5, "first leader")
        second.renewing.set()
        time.sleep(3 * TTL)  # both renew: a clock that is minutes fast must not see the live lease expired
        assert second.led == [], "the second replica led while the first held the lease"

        first.renewing.clear()  # the leader dies
        _wait(lambda: second.led, 10 * TTL, "takeover")
        # Within about one lease of the leader's last renewal: a clock minutes slow must not wait minutes.
        assert second.led[0][0] - first.led[-1][1] < TTL + 5 * RENEW

        first.renewing.set()  # it comes back, and must not take the lease from the live heir
        time.sleep(3 * TTL)
        led_again = [span for span in first.led if span[0] > second.led[0][0]]
        assert led_again == [], "the old leader took the lease back from a live holder"
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
    assert first.clock_read is not None and second.clock_read is not None
    assert abs((second.clock_read - first.clock_read) - (second_skew - first_skew)) < timedelta(seconds=5)
    overlaps = [(a, b) for a in first.led for b in second.led if a[0] < b[1] and b[0] < a[1]]
    assert overlaps == [], "two leaders at once"
