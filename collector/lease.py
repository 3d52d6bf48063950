"""Leader election for scheduler replicas: a lease row in the store, renewed by its holder.

Works the same on SQLite and PostgreSQL. A holder that dies stops renewing; once its lease expires
(`[schedule] lease_seconds`, default 45 s) another replica takes it at its next renewal tick, so a
new leader takes over within a minute. Times are the replicas' UTC clocks: keep them in sync (NTP);
a skew of a few seconds only shortens or lengthens the takeover by as much.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, delete, or_, update
from sqlalchemy.dialects import postgresql, sqlite

from collector.db.models import SchedulerLease
from collector.runs import utcnow

log = logging.getLogger(__name__)


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Lease:
    def __init__(self, engine: Engine, ttl_seconds: int, name: str = "scheduler", holder: str | None = None) -> None:
        self.engine = engine
        self.ttl = timedelta(seconds=ttl_seconds)
        self.name = name
        self.holder = holder or default_holder()
        self.held = False

    def acquire_or_renew(self) -> bool:
        """Take the lease if it is free or expired, renew it if ours; True while we hold it."""
        now = utcnow()
        expires = now + self.ttl
        with self.engine.begin() as connection:
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
                insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
                created = connection.execute(
                    insert(SchedulerLease)
                    .values(name=self.name, holder=self.holder, expires_at=expires)
                    .on_conflict_do_nothing(index_elements=["name"])
                    .returning(SchedulerLease.name)
                )
                won = created.first() is not None
        if won != self.held:
            log.info("lease %s: %s is %s", self.name, self.holder, "now the leader" if won else "no longer the leader")
        self.held = won
        return won

    def release(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                delete(SchedulerLease).where(SchedulerLease.name == self.name, SchedulerLease.holder == self.holder)
            )
        self.held = False
