"""Leader election for scheduler replicas: a lease row in the store, renewed by its holder.

Works the same on SQLite and PostgreSQL. A holder that dies stops renewing; once its lease expires
(`[schedule] lease_seconds`, default 45 s) another replica takes it at its next renewal tick, so a
new leader takes over within a minute.

Every lease time is the database's clock, evaluated in the statement that takes or renews the lease:
replicas whose own clocks disagree by minutes (no NTP, a VM resumed from a snapshot) still agree on
when a lease expires. Were each replica to stamp its own `now`, one running 5 minutes fast would see
every live lease as expired and lead alongside the holder, and one running slow would wait minutes to
take over from a dead one. The holder's own belief that it leads is bounded by its monotonic clock
(never by its wall clock): it stops leading once a lease's length has passed since it last renewed,
even if that renewal hangs, so it never outlives the lease the database gave it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, delete, func, or_, update
from sqlalchemy.sql.expression import ColumnElement

from collector.db.models import SchedulerLease
from collector.db.upsert import conflict_insert

log = logging.getLogger(__name__)

# SQLite's clock to the millisecond, in the text form SQLAlchemy stores and reads back for DateTime.
_SQLITE_NOW = "%Y-%m-%d %H:%M:%f"


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def database_now(dialect: str, plus: timedelta = timedelta(0)) -> ColumnElement[datetime]:
    """The database's current UTC time (plus `plus`), as a SQL expression evaluated by the database."""
    if dialect == "sqlite":
        # strftime('now') is UTC; SQLite has no time zones and compares these texts in time order.
        return func.strftime(_SQLITE_NOW, "now", f"{plus.total_seconds():+.3f} seconds")
    return func.now() + plus if plus else func.now()  # PostgreSQL: the transaction's timestamptz


class Lease:
    def __init__(self, engine: Engine, ttl_seconds: int, name: str = "scheduler", holder: str | None = None) -> None:
        self.engine = engine
        self.ttl = timedelta(seconds=ttl_seconds)
        self.name = name
        self.holder = holder or default_holder()
        self._held = False
        self._valid_until = 0.0  # time.monotonic() past which we no longer count on the lease

    @property
    def held(self) -> bool:
        """True while we hold the lease: renewed, and less than its length ago."""
        return self._held and time.monotonic() < self._valid_until

    @held.setter
    def held(self, value: bool) -> None:
        self._held = value

    def acquire_or_renew(self) -> bool:
        """Take the lease if it is free or expired, renew it if ours; True while we hold it."""
        asked_at = time.monotonic()  # before the database's now: our belief ends no later than its lease
        with self.engine.begin() as connection:
            dialect = connection.dialect.name
            now, expires = database_now(dialect), database_now(dialect, self.ttl)
            result = connection.execute(
                update(SchedulerLease)
                .where(
                    SchedulerLease.name == self.name,
                    or_(SchedulerLease.holder == self.holder, SchedulerLease.expires_at < now),
                )
                .values(holder=self.holder, expires_at=expires)
            )
            won = cast(CursorResult[Any], result).rowcount == 1
            if not won:
                created = connection.execute(
                    conflict_insert(dialect)(SchedulerLease)
                    .values(name=self.name, holder=self.holder, expires_at=expires)
                    .on_conflict_do_nothing(index_elements=["name"])
                    .returning(SchedulerLease.name)
                )
                won = created.first() is not None
        if won != self._held:
            log.info("lease %s: %s is %s", self.name, self.holder, "now the leader" if won else "no longer the leader")
        self._held = won
        self._valid_until = asked_at + self.ttl.total_seconds() if won else 0.0
        return won

    def release(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                delete(SchedulerLease).where(SchedulerLease.name == self.name, SchedulerLease.holder == self.holder)
            )
        self._held = False
