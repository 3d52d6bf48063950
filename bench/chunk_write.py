"""Where a cost chunk's write goes: the cost rows' insert and each rollup statement, per row.

`ingest.py`'s N synthetic rows (day order, as Azure sends them), every resource attributed to a
project of its own (as in a real tenant, where the daily rollup is as long as the AI cost rows), are
written as `collector.cost_chunks.write_chunk` writes a backfill: per subscription-month, in one
transaction, `insert_new` into `cost_rows`, then `rollup.refresh_subscription_days`. Each SQL
statement's time is summed by SQLAlchemy's cursor events; the PostgreSQL COPY is no statement there,
so its time is the insert's wall time less its statements'. On PostgreSQL the server backend's CPU
is read from /proc/<pid>/stat around the insert and around the rollups, so client and server are
told apart.

    python bench/chunk_write.py [--rows 300000] [--backends sqlite,postgresql] [--seed 42]

A micro-benchmark of the write path alone: no emulator, no parsing (bench/collect.py has the whole run).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from _db import markdown_table, own_cpu_seconds, parse_backends, process_cpu, store
from ingest import RUN_STAMPS, make_rows, month_chunks
from sqlalchemy import Engine, event, insert, text
from sqlalchemy.orm import Session

from collector import rollup
from collector.db.engine import make_engine
from collector.db.models import CollectionRun, CostRow, ResourceAttribution
from collector.db.upsert import insert_new

POSTGRES_DATABASE = "costwatch_bench_chunk_write"


@dataclass
class Measured:
    backend: str
    rows: int
    seconds: dict[str, float] = field(default_factory=dict)  # wall: "insert", "rollups"
    client_cpu: dict[str, float] = field(default_factory=dict)
    server_cpu: dict[str, float] = field(default_factory=dict)  # PostgreSQL only
    statements: dict[str, float] = field(default_factory=dict)  # statement (its head) -> seconds
    in_statements: dict[str, float] = field(default_factory=dict)  # part -> seconds of its statements


def _backend_cpu(pid: int | None) -> float:
    found = process_cpu(pid) if pid is not None else None
    return found[1] if found else 0.0


def _statement_head(statement: str) -> str:
    """A statement's kind and table, e.g. 'INSERT INTO daily_spend'."""
    words = " ".join(statement.split())
    match = re.match(r"(INSERT INTO \S+|DELETE FROM \S+|UPDATE \S+|COPY \S+|SELECT)", words, re.IGNORECASE)
    return match.group(1) if match else words[:40]


def _time_statements(engine: Engine, into: dict[str, float]) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _before(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        connection.info["costwatch_bench_started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        head = _statement_head(statement)
        into[head] = into.get(head, 0.0) + time.perf_counter() - connection.info.pop("costwatch_bench_started")


@contextmanager
def _measured(measured: Measured, part: str, pid: int | None) -> Iterator[None]:
    """Adds to `part`'s wall time, client and server CPU and time in statements what the block took."""
    readers: list[tuple[dict[str, float], Callable[[], float]]] = [
        (measured.seconds, time.perf_counter),
        (measured.client_cpu, own_cpu_seconds),
        (measured.server_cpu, lambda: _backend_cpu(pid)),
        (measured.in_statements, lambda: sum(measured.statements.values())),
    ]
    before = [read() for _, read in readers]
    yield
    for (totals, read), start in zip(readers, before, strict=True):
        totals[part] = totals.get(part, 0.0) + read() - start


def run_backend(backend: str, rows: list[dict[str, Any]]) -> Measured:
    chunks = month_chunks(rows)
    resources = sorted({row["resource_id"] for row in rows})
    measured = Measured(backend, len(rows))
    with store(backend, POSTGRES_DATABASE) as url:
        engine = make_engine(url)
        now = datetime.now(UTC)
        with Session(engine) as session, session.begin():
            for run_id, stamp in RUN_STAMPS.items():
                session.add(CollectionRun(id=run_id, kind="costs", status="succeeded", started_at=stamp))
            attributed = [
                {"resource_id": r, "spend_kind": "marketplace", "project": f"proj-{i:05d}", "model": "Llama-3"}
                for i, r in enumerate(resources)
            ]
            session.execute(insert(ResourceAttribution), [{**a, "rule": "tag", "updated_at": now} for a in attributed])
        _time_statements(engine, measured.statements)
        with Session(engine) as session:
            pid = session.scalar(text("SELECT pg_backend_pid()")) if backend == "postgresql" else None
            session.commit()
            for chunk in chunks:
                days = [row["usage_date"] for row in chunk]
                with session.begin():
                    with _measured(measured, "insert", pid):
                        insert_new(session, CostRow, chunk)
                    with _measured(measured, "rollups", pid):
                        rollup.refresh_subscription_days(session, chunk[0]["subscription_id"], min(days), max(days))
        engine.dispose()
    if backend == "postgresql":  # the COPY is no cursor execute: the insert's time less its statements'
        measured.statements["COPY cost_rows"] = measured.seconds["insert"] - measured.in_statements["insert"]
    return measured


def report(results: list[Measured]) -> str:
    def per_row(seconds: float, rows: int) -> str:
        return f"{1e6 * seconds / rows:.1f}"

    table = []
    for m in results:
        for part in ("insert", "rollups"):
            server = per_row(m.server_cpu[part], m.rows) if m.backend == "postgresql" else ""
            table.append(
                [m.backend, part, per_row(m.seconds[part], m.rows), per_row(m.client_cpu[part], m.rows), server]
            )
    parts = markdown_table(["backend", "part", "wall µs a row", "client CPU µs a row", "server CPU µs a row"], table)
    statements = [
        [m.backend, head, per_row(seconds, m.rows)]
        for m in results
        for head, seconds in sorted(m.statements.items(), key=lambda item: -item[1])
        if 1e6 * seconds / m.rows >= 0.05
    ]
    return parts + "\n\n" + markdown_table(["backend", "statement", "wall µs a row"], statements)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma list: sqlite, postgresql")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    rows = make_rows(args.rows, args.seed)
    results = []
    for backend in parse_backends(args.backends):
        print(f"{backend}: writing {len(rows):,} rows ...", file=sys.stderr, flush=True)
        results.append(run_backend(backend, rows))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
