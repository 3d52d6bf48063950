"""Transactions that outlast a short database outage.

A failover, a restart or a network blip must not cost a collection run: each write is one
transaction, so it can simply be run again once the database answers. Only errors that mean "could
not reach or keep the connection" are retried; anything else fails at once: a store fault that will
not pass by itself (a full disk, a locked or foreign SQLite file) as a StoreError saying what to do,
costwatch's own mistakes (a constraint, a bug) as they are.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from collector.db.faults import classify, store_error

log = logging.getLogger(__name__)

T = TypeVar("T")

# The outages waited out, as (what was being written, seconds without the database). collector.runs
# sets a list for each run, so that the run's record can say the database went away and for how long.
WAITS: ContextVar[list[tuple[str, float]] | None] = ContextVar("database_waits", default=None)


def _transient(exc: DBAPIError) -> bool:
    fault = classify(exc)
    if fault is not None:
        return fault.transient
    # A PostgreSQL OperationalError no pattern names is still most likely about the connection (the
    # rule before faults were told apart); SQLite's are about the file, which waiting does not fix.
    return isinstance(exc, OperationalError) and not isinstance(exc.orig, sqlite3.Error)


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)  # redacted by the message that names it


def transaction(engine: Engine, work: Callable[[Session], T], what: str, *, patience: float) -> T:
    """Run `work` in one transaction; if the database is unreachable, retry it for `patience` seconds
    (a run's `database_retry_seconds`). A store fault ends as a StoreError, any other error as it was
    raised."""
    deadline = time.monotonic() + patience
    delay = 0.5
    lost_at: float | None = None  # when this write first found the database unreachable
    while True:
        try:
            with Session(engine) as session, session.begin():
                result = work(session)
        except DBAPIError as exc:
            if not _transient(exc) or time.monotonic() + delay > deadline:
                error = store_error(exc, _url(engine), waited=None if lost_at is None else patience)
                if error is None:
                    raise
                raise error from exc
            lost_at = lost_at if lost_at is not None else time.monotonic()
            log.warning(
                "database unavailable while writing %s (%s); retrying in %.1f s",
                what,
                type(exc.orig).__name__ if exc.orig else type(exc).__name__,
                delay,
            )
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        if lost_at is not None:
            waited = time.monotonic() - lost_at
            log.warning("database answered again after %.0f s; %s written", waited, what)
            waits = WAITS.get()
            if waits is not None:
                waits.append((what, waited))
        return result
