"""One cost chunk: fetched whole (every page), then stored in one transaction per subscription-month.

Shared by both query plans (pipeline.py: per subscription; wide_scope.py: a billing account, billing
profile or management group split by subscription), so a month is stored the same way, with the same
natural key and stale-row removal, whatever scope it was queried at.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.orm import Session

from collector.azure.cost_query import query_pages
from collector.db.models import COST_ROW_KEY, CostRow
from collector.db.session import transaction
from collector.db.upsert import upsert
from collector.runs import Run, utcnow
from collector.settings import Settings
from collector.sources import costs

log = logging.getLogger(__name__)


def fetch(run: Run, settings: Settings, chunk: costs.Chunk, today: date) -> costs.ParsedRows:
    """Every page of one chunk's query, parsed; the QPU it took is counted even when it fails."""
    what = f"cost query on {chunk.scope} for {chunk.first}..{chunk.last}"
    qpu = run.clients.qpu
    qpu_before = qpu.consumed
    try:
        pages = query_pages(run.clients.cost_management, chunk.scope, costs.query_body(chunk, settings.costs))
        parsed = costs.parse_pages(pages, chunk, settings.costs, today, what)
    finally:
        run.summary.qpu_used += qpu.consumed - qpu_before
    if parsed.rejected:
        log.warning("%s: %d row(s) rejected: %s", what, parsed.rejected, costs.summarize_rejections(parsed))
    return parsed


def cost_chunk(run: Run, settings: Settings, chunk: costs.Chunk, today: date) -> int:
    """Fetch and store one subscription-month at the subscription's own scope."""
    parsed = fetch(run, settings, chunk, today)
    return write_chunk(run, settings, chunk, list(parsed.rows.values()), parsed.rejected)


# Adds the chunk's own record (rows written, rows removed) to the transaction that stores it.
Record = Callable[[Session, int, int], None]


def write_chunk(
    run: Run,
    settings: Settings,
    chunk: costs.Chunk,
    parsed_rows: list[dict[str, Any]],
    rejected: int,
    record: Record | None = None,
) -> int:
    """Store one subscription-month as Azure states it now, in one transaction: its rows upserted by
    natural key, the rows no longer stated removed. The same whatever scope the rows were queried at."""
    what = f"costs of /subscriptions/{chunk.subscription_id} for {chunk.first}..{chunk.last}"
    summary = run.summary
    now = utcnow()
    rows = [{**row, "run_id": run.id, "updated_at": now} for row in parsed_rows]
    in_chunk = (
        CostRow.subscription_id == chunk.subscription_id,
        CostRow.usage_date.between(chunk.first, chunk.last),
        CostRow.cost_type == settings.costs.cost_type,
    )

    def write(session: Session) -> int:
        removed = 0
        upsert(session, CostRow, rows, COST_ROW_KEY)
        if rows and not rejected:
            # Rows of this stretch that Azure no longer states were restated away: remove them.
            # (Not when a row was rejected: its stored figure is kept rather than lost.)
            result = session.execute(delete(CostRow).where(*in_chunk, CostRow.run_id != run.id))
            removed = cast(CursorResult[Any], result).rowcount
        elif not rows and session.scalar(select(func.count()).select_from(CostRow).where(*in_chunk)):
            # An empty answer where rows are stored is more likely a glitch than a refund of everything.
            log.warning("%s: Azure returned no rows where the store has some; kept them", what)
        if record is not None:
            record(session, len(rows), removed)
        return removed

    removed = transaction(run.engine, write, what)
    summary.rows_written += len(rows)
    summary.rows_removed += removed
    summary.rows_rejected += rejected
    return len(rows)
