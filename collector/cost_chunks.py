"""One cost chunk: fetched whole (every page), then stored in one transaction per subscription-month.

Shared by both query plans (pipeline.py: per subscription; wide_scope.py: a billing account, billing
profile or management group split by subscription), so a month is stored the same way, with the same
natural key and stale-row removal, whatever scope it was queried at.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from collector import rollup
from collector.attribution_store import Attributions
from collector.azure.cost_query import query_pages
from collector.db.models import CostRow
from collector.db.session import transaction
from collector.db.upsert import insert_new, upsert
from collector.runs import Run, utcnow
from collector.settings import Settings
from collector.sources import costs

log = logging.getLogger(__name__)


# The largest chunk whose successor is fetched while it is written (~40 MB of parsed rows).
AHEAD_ROWS = 50_000

# A fetch's outcome: the parsed rows or the error, and the QPU it took either way.
_Fetched = tuple[costs.ParsedRows | None, int, Exception | None]


def _fetched(run: Run, settings: Settings, chunk: costs.Chunk, today: date) -> _Fetched:
    what = f"cost query on {chunk.scope} for {chunk.first}..{chunk.last}"
    qpu = run.clients.qpu
    qpu_before = qpu.consumed
    try:
        pages = query_pages(run.clients.cost_management, chunk.scope, costs.query_body(chunk, settings.costs))
        parsed = costs.parse_pages(pages, chunk, settings.costs, today, what)
    except Exception as exc:  # handed to whoever takes the chunk, as the fetch would have raised it
        return None, qpu.consumed - qpu_before, exc
    if parsed.rejected:
        log.warning("%s: %d row(s) rejected: %s", what, parsed.rejected, costs.summarize_rejections(parsed))
    return parsed, qpu.consumed - qpu_before, None


def _counted(run: Run, fetched: _Fetched) -> costs.ParsedRows:
    parsed, qpu, error = fetched
    run.summary.qpu_used += qpu
    if error is not None:
        raise error
    assert parsed is not None
    return parsed


class FetchAhead:
    """Fetches the next chunk in a background thread while the current one is written.

    Azure's answer (or the emulator's) and the database's write then overlap instead of taking turns;
    both wait on I/O, which frees the interpreter for the other. Only the fetch moves: each chunk is
    still written whole in its own transaction on the caller's thread, in order, and its QPU is counted
    when it is taken, so each scope's record holds its own. One chunk ahead at most, and only after a
    chunk of at most AHEAD_ROWS rows: memory holds two small chunks or one large one. Nothing is fetched
    ahead of a failed fetch (its scope's next month would fail alike).
    """

    def __init__(self, run: Run, settings: Settings, today: date, attributions: Attributions) -> None:
        self.run, self.settings, self.today, self.attributions = run, settings, today, attributions
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="costwatch-fetch")
        self._ahead: dict[costs.Chunk, Future[_Fetched]] = {}

    def __enter__(self) -> FetchAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        # A run that stops (or fails) does not wait for a query nobody will take.
        self._pool.shutdown(wait=False, cancel_futures=True)

    def fetch(self, chunk: costs.Chunk, then: costs.Chunk | None = None) -> costs.ParsedRows:
        """Every page of `chunk`'s query, parsed (fetched ahead if it was), `then`'s fetch started; its
        QPU is counted even when it failed."""
        ahead = self._ahead.pop(chunk, None)
        fetched = ahead.result() if ahead else _fetched(self.run, self.settings, chunk, self.today)
        if then is not None:
            self.prefetch(then, fetched[0])
        return _counted(self.run, fetched)

    def prefetch(self, chunk: costs.Chunk, after: costs.ParsedRows | None) -> None:
        """Start fetching `chunk`, unless the fetch just taken failed (`after` is None) or was large:
        two large chunks in memory at once (a wide scope's) would double the collector's peak for
        little gain."""
        if after is not None and len(after.rows) <= AHEAD_ROWS and chunk not in self._ahead:
            self._ahead[chunk] = self._pool.submit(_fetched, self.run, self.settings, chunk, self.today)

    def cost_chunk(self, chunk: costs.Chunk, then: costs.Chunk | None) -> int:
        """Fetch and store one subscription-month at the subscription's own scope, with `then` fetched
        while it is written."""
        parsed = self.fetch(chunk, then)
        rows = list(parsed.rows.values())
        return write_chunk(self.run, self.settings, self.attributions, chunk, rows, parsed.rejected)


def stored_rows_of(chunk: costs.Chunk, cost_type: str) -> tuple[ColumnElement[bool], ...]:
    """The conditions picking a subscription-stretch's stored cost rows (read by the subscription's
    (subscription_id, usage_date) index)."""
    return (
        CostRow.subscription_id == chunk.subscription_id,
        CostRow.usage_date.between(chunk.first, chunk.last),
        CostRow.cost_type == cost_type,
    )


@dataclass(frozen=True)
class ScopeRecord:
    """The recorded scope a chunk is, when its `collection_scopes` row is written in the transaction that
    stores it (the wide plan's subscription-months: nothing of Azure can fail after the answer is read)."""

    name: str
    started: datetime
    month: date
    query_scope: str


def write_chunk(
    run: Run,
    settings: Settings,
    attributions: Attributions,
    chunk: costs.Chunk,
    rows: list[dict[str, Any]],
    rejected: int,
    scope: ScopeRecord | None = None,
) -> int:
    """Store one subscription-month as Azure states it now, in one transaction: its rows (stamped with
    the run) upserted by natural key, the rows no longer stated removed, its new resources attributed
    and its rollups recomputed. The same whatever scope the rows were queried at."""
    what = f"costs of /subscriptions/{chunk.subscription_id} for {chunk.first}..{chunk.last}"
    summary = run.summary
    now = utcnow()
    for row in rows:  # stamped in place: a copy of every row would double a large chunk's memory
        row["run_id"], row["updated_at"] = run.id, now
    in_chunk = stored_rows_of(chunk, settings.costs.cost_type)

    def write(session: Session, look: bool) -> int:
        removed = 0
        # A stretch never stored before (a backfill) has no row to update and none stale to look for:
        # its rows (unique by natural key, as parsed) are inserted as they are, without the conflict
        # clause: SQLite's executemany takes more than twice as long with it, and PostgreSQL COPYs
        # straight into the table in a third of the staged upsert's time (docs/performance.md#insert-new-stretch).
        stored = not look or session.scalar(select(CostRow.id).where(*in_chunk).limit(1)) is not None
        if stored:
            upsert(session, CostRow, rows, costs.DATASET.key)
        else:
            insert_new(session, CostRow, rows)
        if rows and not rejected and stored:
            # Rows of this stretch that Azure no longer states were restated away: remove them.
            # (Not when a row was rejected: its stored figure is kept rather than lost.)
            result = session.execute(delete(CostRow).where(*in_chunk, CostRow.run_id != run.id))
            removed = cast(CursorResult[Any], result).rowcount
        elif not rows and stored:
            # An empty answer where rows are stored is more likely a glitch than a refund of everything.
            log.warning("%s: Azure returned no rows where the store has some; kept them", what)
        if rows:
            attributions.add_new(session, {(row["resource_id"], row["meter"]) for row in rows})
            rollup.refresh_subscription_days(session, chunk.subscription_id, chunk.first, chunk.last)
        if scope is not None:
            run.record(
                session,
                scope.name,
                scope.started,
                rows_written=len(rows),
                rows_removed=removed,
                rows_rejected=rejected,
                month=scope.month,
                query_scope=scope.query_scope,
            )
        return removed

    try:
        removed = transaction(run.engine, partial(write, look=True), what, patience=run.patience)
    except IntegrityError:
        # Another collector stored some of the stretch between the look and the insert (a stored key
        # fails the insert instead of doubling a row): the transaction was rolled back whole, so
        # write the stretch again as an update of what is stored.
        log.info("%s: stored meanwhile by another collector; written again as an update", what)
        removed = transaction(run.engine, partial(write, look=False), what, patience=run.patience)
    summary.rows_written += len(rows)
    summary.rows_removed += removed
    summary.rows_rejected += rejected
    return len(rows)
