"""Where a collection's time goes: wall-clock and thread CPU seconds per phase (bench/collect.py --phases).

Each phase is a collector function, wrapped in place for the run (as cProfile would be, but only
these, so the run keeps its speed). Phases on the fetch thread (`fetch: ...`) overlap the writer's
(`write: ...`); `write: chunk` holds a chunk's cost rows, attribution, rollups and commit (the
commits phase also counts the run's records, written outside the chunks). Thread CPU is `time.thread_time()`:
SQLite's work is the writer's own, PostgreSQL's is the server's (not counted here).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

import sqlalchemy.engine.default

from collector import attribution_store, cost_chunks, rollup
from collector.azure import cost_query
from collector.jobs import costs as pipeline

# (phase, owner, attribute): the owner's attribute is replaced by a timed one while measuring.
PHASES: list[tuple[str, Any, str]] = [
    ("inventory (per subscription, with its project threads)", pipeline, "sync_subscription"),
    ("fetch: one chunk, every page (fetch thread)", cost_chunks, "_fetched"),
    ("fetch: HTTP, answer read whole", cost_query, "_send"),
    ("fetch: JSON decoding", cost_query, "parse_json"),
    ("write: waiting for the fetched chunk", cost_chunks.FetchAhead, "fetch"),
    ("write: chunk (one transaction)", cost_chunks, "write_chunk"),
    ("write: cost rows, new stretch", cost_chunks, "insert_new"),
    ("write: cost rows, stored stretch", cost_chunks, "upsert"),
    ("write: attribution of new resources", attribution_store.Attributions, "add_new"),
    ("write: rollups", rollup, "refresh_subscription_days"),
    ("write: commits (the chunks' and the run records')", sqlalchemy.engine.default.DefaultDialect, "do_commit"),
    ("after the chunks: rollups caught up", pipeline, "catch_up_rollup"),
]


@contextmanager
def phase_clock() -> Iterator[dict[str, list[float]]]:
    """Time every phase while the block runs: {phase: [calls, wall s, thread CPU s]}."""
    spent: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    originals = [(owner, name, getattr(owner, name)) for _, owner, name in PHASES]
    for (phase, owner, name), (_, _, original) in zip(PHASES, originals, strict=True):
        setattr(owner, name, _timed(original, spent[phase]))
    try:
        yield spent
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def _timed(function: Callable[..., Any], total: list[float]) -> Callable[..., Any]:
    @wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            total[0] += 1
            total[1] += time.perf_counter() - wall
            total[2] += time.thread_time() - cpu

    return timed


def phase_table(backend: str, rows: int, spent: dict[str, list[float]]) -> list[list[Any]]:
    """The Markdown table's rows: per phase, its calls, wall and thread CPU, in s and µs a cost row."""
    table = []
    for phase, _, _ in PHASES:
        calls, wall, cpu = spent.get(phase, (0, 0.0, 0.0))
        if calls:
            table.append(
                [
                    backend,
                    phase,
                    int(calls),
                    f"{wall:.2f}",
                    f"{cpu:.2f}",
                    *(f"{t * 1e6 / rows:.1f}" for t in (wall, cpu)),
                ]
            )
    return table


PHASE_HEADERS = ["backend", "phase", "calls", "wall s", "thread CPU s", "wall µs a row", "CPU µs a row"]
