"""Run bookkeeping shared by every collection job: a `collection_runs` row per run, a
`collection_scopes` row per scope, and failures that are recorded and contained, never lost."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial

from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from collector.azure.arm import AzureCallError
from collector.azure.clients import AzureClients
from collector.db import session as session_module
from collector.db.faults import StoreError, describe, store_error
from collector.db.models import CollectionRun, ScopeRun
from collector.db.session import transaction
from collector.logs import RUN_ID
from collector.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

# Set on SIGTERM/SIGINT by the scheduler: a run stops before its next scope. Each scope is written in
# one transaction, so what was done stays done and the rest is left for the next run.
STOP = threading.Event()


class Stopped(Exception):
    """The process was asked to stop; the run ends between two scopes."""


class FellBack(Exception):
    """A scope could not be read, and its work is done another way (e.g. per subscription): recorded
    as `fallback` with the reason, not as a failure."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything costwatch stores is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def quiet(_message: str) -> None:
    """The default progress callback: say nothing."""


@dataclass
class RunSummary:
    run_id: int
    kind: str
    status: str
    window_from: date | None = None
    window_to: date | None = None
    scopes: int = 0
    failures: list[str] = field(default_factory=list)
    rows_written: int = 0
    rows_removed: int = 0
    rows_rejected: int = 0
    qpu_used: int = 0
    api_calls: int = 0
    throttled: int = 0
    seconds: float = 0.0
    unattributed: list[tuple[str, str]] = field(default_factory=list)
    by_offer: list[tuple[str, str]] = field(default_factory=list)  # attributed by their offer, and how
    # What the run waited out without losing anything (a database outage), for its record.
    notes: list[str] = field(default_factory=list)


HOST = socket.gethostname()
HOLDER = f"{HOST}:{os.getpid()}"
# A run still "running" this long after it started, on another host, is taken for dead.
ABANDON_AFTER = timedelta(hours=24)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _close_abandoned(session: Session, kind: str) -> None:
    """Runs whose process died (SIGKILL, a crash, a lost host) are marked so, not left "running"."""
    now = utcnow()
    for run in session.scalars(
        select(CollectionRun).where(CollectionRun.kind == kind, CollectionRun.status == "running")
    ):
        host, _, pid = (run.holder or "").rpartition(":")
        dead = (host == HOST and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))) or (
            host != HOST and now - as_utc(run.started_at) > ABANDON_AFTER
        )
        if dead:
            run.status, run.finished_at = "abandoned", now
            run.error = f"the process {run.holder or '(unknown)'} ended without finishing the run (killed or crashed)"
            log.warning(
                "run %d (%s) was abandoned by %s; its finished scopes stay, the next run repairs the rest",
                run.id,
                kind,
                run.holder or "an unknown process",
            )


class Run:
    """One job's run: create it with `Run.start`, do scopes with `scope`, close it with `finish`."""

    def __init__(self, engine: Engine, clients: AzureClients, summary: RunSummary, progress: Progress) -> None:
        self.engine = engine
        self.clients = clients
        self.summary = summary
        self.progress = progress
        # How long each of its writes waits for an unreachable store to come back.
        self.patience = clients.settings.database_retry_seconds
        self._started = utcnow()
        # The clients may be shared by several runs (the scheduler's): count only this run's calls.
        self._calls_before = clients.qpu.calls
        self._throttled_before = clients.qpu.throttled

    @classmethod
    def start(
        cls,
        engine: Engine,
        clients: AzureClients,
        kind: str,
        progress: Progress = quiet,
        window: tuple[date, date] | None = None,
    ) -> Run:
        window_from, window_to = window or (None, None)
        with Session(engine) as session, session.begin():
            _close_abandoned(session, kind)
            row = CollectionRun(
                kind=kind,
                status="running",
                started_at=utcnow(),
                window_from=window_from,
                window_to=window_to,
                holder=HOLDER,
            )
            session.add(row)
            session.flush()
            run_id = row.id
        summary = RunSummary(run_id=run_id, kind=kind, status="running", window_from=window_from, window_to=window_to)
        return cls(engine, clients, summary, progress)

    @property
    def id(self) -> int:
        return self.summary.run_id

    def scope(
        self,
        scope: str,
        work: Callable[[], int],
        prefix: str = "",
        *,
        month: date | None = None,
        query_scope: str = "",
    ) -> bool:
        """Run one scope's work and record its outcome; an Azure failure is recorded, logged and contained.
        `month` and `query_scope` say, for a cost scope, which month it covered and where it was queried."""
        summary = self.summary
        started = self.begin(scope)
        before = (summary.rows_written, summary.rows_removed, summary.rows_rejected, summary.qpu_used)
        status, error, count = "succeeded", None, 0
        try:
            count = work()
        except FellBack as exc:
            status, error = "fallback", str(exc)
            log.warning("%s: %s", scope, exc)
        except AzureCallError as exc:
            status, error = "failed", str(exc)
            summary.failures.append(f"{scope}: {exc}")
            log.error("%s failed: %s", scope, exc)
        transaction(
            self.engine,
            lambda session: self.record(
                session,
                scope,
                started,
                status=status,
                rows_written=summary.rows_written - before[0],
                rows_removed=summary.rows_removed - before[1],
                rows_rejected=summary.rows_rejected - before[2],
                qpu_used=summary.qpu_used - before[3],
                error=error,
                month=month,
                query_scope=query_scope,
            ),
            f"the record of {scope}",
            patience=self.patience,
        )
        outcome = {"succeeded": f"{count} rows", "fallback": f"fell back: {error}"}.get(status, f"FAILED: {error}")
        self.progress(f"{prefix}{scope}: {outcome}")
        return status == "succeeded"

    def begin(self, scope: str) -> datetime:
        """Start a scope (stopping first if asked to); `scope()` does this, and so does work that writes
        its own record with its data, in one transaction (see `record`)."""
        if STOP.is_set():
            raise Stopped(f"stopped on request before {scope}")
        self.summary.scopes += 1
        return utcnow()

    def record(
        self,
        session: Session,
        scope: str,
        started: datetime,
        *,
        status: str = "succeeded",
        rows_written: int = 0,
        rows_removed: int = 0,
        rows_rejected: int = 0,
        qpu_used: int = 0,
        error: str | None = None,
        month: date | None = None,
        query_scope: str = "",
    ) -> None:
        """Add a scope's `collection_scopes` row to `session`."""
        session.add(
            ScopeRun(
                run_id=self.summary.run_id,
                scope=scope,
                status=status,
                started_at=started,
                finished_at=utcnow(),
                rows_written=rows_written,
                rows_removed=rows_removed,
                rows_rejected=rows_rejected,
                qpu_used=qpu_used,
                error=error,
                month=month,
                query_scope=query_scope,
            )
        )

    def finish(self, error: BaseException | None = None) -> RunSummary:
        summary = self.summary
        if error is not None:
            summary.failures.append(f"run: {error}")
            summary.status = "failed"
        elif summary.status == "running":
            failed = len(summary.failures)
            summary.status = "succeeded" if not failed else "failed" if failed >= summary.scopes else "partial"
        summary.api_calls = self.clients.qpu.calls - self._calls_before
        summary.throttled = self.clients.qpu.throttled - self._throttled_before
        summary.seconds = (utcnow() - self._started).total_seconds()
        summary.notes = _outage_notes(session_module.WAITS.get() or [])
        # After a store fault the outage (if any) was already waited out: try the record once.
        patience = 0.0 if isinstance(error, StoreError) else self.patience
        transaction(
            self.engine, partial(_record_end, summary, error), f"the end of run {summary.run_id}", patience=patience
        )
        return summary

    def fail(self, error: BaseException) -> BaseException:
        """Record the run as failed by `error` if the store still takes the record; the error to raise
        (a store fault the driver raised, said plainly)."""
        url = self.engine.url.render_as_string(hide_password=False)
        plain = store_error(error, url) if isinstance(error, DBAPIError) else None
        try:
            self.finish(plain or error)
        except (StoreError, DBAPIError) as exc:
            # The store cannot take the record either (full, gone): the run stays "running" until
            # the next run finds its process gone and marks it abandoned.
            log.error("run %d could not be recorded as failed: %s", self.id, describe(exc, url))
        return plain or error


def _outage_notes(waits: list[tuple[str, float]]) -> list[str]:
    if not waits:
        return []
    longest = max(seconds for _, seconds in waits)
    writes = ", ".join(what for what, _ in waits[:3]) + (f" and {len(waits) - 3} more" if len(waits) > 3 else "")
    return [
        f"the database was unreachable for up to {longest:.0f} s during this run; {len(waits)} write(s) waited "
        f"for it and were then made ({writes}): nothing was lost"
    ]


def _record_end(summary: RunSummary, error: BaseException | None, session: Session) -> None:
    run = session.get(CollectionRun, summary.run_id)
    assert run is not None
    run.status = summary.status
    run.finished_at = utcnow()
    run.scopes_total = summary.scopes
    run.scopes_failed = len(summary.failures)
    run.rows_written = summary.rows_written
    run.rows_removed = summary.rows_removed
    run.rows_rejected = summary.rows_rejected
    run.qpu_used = summary.qpu_used
    run.api_calls = summary.api_calls
    run.throttled = summary.throttled
    # `error` says what went wrong, and what was waited out on the way (the notes).
    said = [str(error)] if error is not None else summary.failures
    run.error = "\n".join([*said, *summary.notes]) or None


def run_job(
    engine: Engine,
    settings: Settings,
    kind: str,
    body: Callable[[Run], None],
    *,
    clients: AzureClients | None = None,
    progress: Progress = quiet,
    window: tuple[date, date] | None = None,
) -> RunSummary:
    """Start a run, do its body, and record how it ended, whatever happened (then re-raise)."""
    own_clients = clients is None
    clients = clients or AzureClients(settings)
    token = None
    waits = session_module.WAITS.set([])  # this run's outages, however its writes are nested
    try:
        run = Run.start(engine, clients, kind, progress, window)
        token = RUN_ID.set(run.id)
        try:
            body(run)
        except BaseException as exc:  # even a Ctrl-C or SIGTERM leaves the run record saying so
            raised = run.fail(exc)
            if raised is exc:
                raise
            raise raised from exc
        return run.finish()
    finally:
        session_module.WAITS.reset(waits)
        if token is not None:
            RUN_ID.reset(token)
        if own_clients:
            clients.close()
