"""Freshness: when each job last succeeded, per job and per scope, and whether that is too long ago.

`costwatch status` prints it; the scheduler's /metrics endpoint exports the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collector.db.models import CollectionRun, ScopeRun
from collector.jobs import JOB_NAMES, intervals
from collector.runs import as_utc, utcnow
from collector.settings import Settings


@dataclass(frozen=True)
class Freshness:
    job: str
    scope: str  # "" for the job as a whole
    last_success: datetime | None
    last_status: str | None
    last_error: str | None
    age: timedelta | None
    stale: bool
    rows: int
    qpu: int
    seconds: float | None


def freshness(session: Session, settings: Settings, now: datetime | None = None) -> list[Freshness]:
    """One line per job, then one per scope; stale = no success within twice the job's interval."""
    now = now or utcnow()
    limits = intervals(settings)
    out: list[Freshness] = []
    for job in JOB_NAMES:
        last = session.scalars(
            select(CollectionRun).where(CollectionRun.kind == job).order_by(CollectionRun.id.desc()).limit(1)
        ).first()
        success = session.scalar(
            select(func.max(CollectionRun.finished_at)).where(
                CollectionRun.kind == job, CollectionRun.status == "succeeded"
            )
        )
        last_status = last.status if last else None
        if job == "inventory":
            # The cost job syncs the inventory first, one scope per subscription: `collect` (costs,
            # quota, metrics) keeps the inventory fresh without an inventory run of its own.
            synced = session.scalar(
                select(func.max(ScopeRun.finished_at)).where(
                    ScopeRun.scope.startswith("inventory "), ScopeRun.status == "succeeded"
                )
            )
            success = max((t for t in (success, synced) if t is not None), key=as_utc, default=None)
            last_status = last_status or ("succeeded" if synced else None)
        out.append(
            _line(
                job,
                "",
                success,
                last_status,
                last.error if last else None,
                now,
                limits[job],
                last.rows_written if last else 0,
                last.qpu_used if last else 0,
                _duration(last.started_at, last.finished_at) if last else None,
            )
        )
        scopes = session.execute(
            select(
                ScopeRun.scope,
                func.max(ScopeRun.finished_at).filter(ScopeRun.status == "succeeded").label("success"),
                func.max(ScopeRun.id).label("last_id"),
            )
            .join(CollectionRun, CollectionRun.id == ScopeRun.run_id)
            .where(CollectionRun.kind == job)
            .group_by(ScopeRun.scope)
            .order_by(ScopeRun.scope)
        ).all()
        for scope, scope_success, last_id in scopes:
            latest = session.get(ScopeRun, last_id)
            assert latest is not None
            out.append(
                _line(
                    job,
                    scope,
                    scope_success,
                    latest.status,
                    latest.error,
                    now,
                    limits[job],
                    latest.rows_written,
                    latest.qpu_used,
                    _duration(latest.started_at, latest.finished_at),
                )
            )
    return out


def _duration(start: datetime | None, end: datetime | None) -> float | None:
    return (as_utc(end) - as_utc(start)).total_seconds() if start and end else None


def _line(
    job: str,
    scope: str,
    success: datetime | None,
    status: str | None,
    error: str | None,
    now: datetime,
    interval: timedelta,
    rows: int,
    qpu: int,
    seconds: float | None,
) -> Freshness:
    success = as_utc(success) if success else None
    age = now - success if success else None
    return Freshness(job, scope, success, status, error, age, age is None or age > 2 * interval, rows, qpu, seconds)


def last_run(session: Session) -> tuple[datetime | None, str | None]:
    """When the newest finished run of any job ended, and how."""
    row = session.execute(
        select(CollectionRun.finished_at, CollectionRun.status)
        .where(CollectionRun.finished_at.is_not(None))
        .order_by(CollectionRun.id.desc())
        .limit(1)
    ).first()
    return (row.finished_at, row.status) if row else (None, None)


def last_scope_runs(session: Session, count: int) -> dict[str, list[ScopeRun]]:
    """Every scope ever run, with its newest `count` runs, newest first."""
    scopes = session.scalars(select(ScopeRun.scope).distinct()).all()
    return {
        scope: list(
            session.scalars(select(ScopeRun).where(ScopeRun.scope == scope).order_by(ScopeRun.id.desc()).limit(count))
        )
        for scope in scopes
    }
