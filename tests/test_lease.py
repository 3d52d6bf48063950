"""Leader election: one holder at a time; a dead holder's lease is taken over once it expires."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

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
