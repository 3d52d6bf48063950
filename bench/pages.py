"""The dashboard's main reads on a large store: `collector.read.spend.spend` for one month, as the Spend and
Overview pages call it (it reads the daily rollup), timed p50/p95 over repeats, with the time of a full
rollup rebuild, on SQLite and PostgreSQL side by side.

    .venv/bin/python bench/pages.py [--rows 2000000] [--repeats 7] [--backends sqlite,postgresql]

The rows are bench/ingest.py's (4 subscriptions, Aug 1..Nov 24 2026), written with the raw driver
path, so one month holds about a quarter of them: 2 million rows here put ~500,000 in a month, more
than a tenant with 10 million rows over three years has (~280,000).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text
from sqlalchemy.orm import Session

from bench._db import markdown_table, parse_backends, store
from bench.ingest import RUN_STAMPS, make_rows, write_raw
from collector import rollup
from collector.db.engine import make_engine
from collector.db.models import CollectionRun
from collector.read.spend import spend

MONTH = (date(2026, 10, 1), date(2026, 10, 31))
READS = {
    "overview: month by project": ["project"],
    "spend: month by project, model": ["project", "model"],
    "spend: daily trend by project": ["day", "project"],
    "spend: month by meter": ["meter"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = make_rows(args.rows, 42)
    print(f"{len(rows):,} rows built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    table = []
    for backend in parse_backends(args.backends):
        with store(backend, "costwatch_bench_pages") as url:
            engine = make_engine(url)
            with Session(engine) as session, session.begin():
                session.add(CollectionRun(id=1, kind="costs", status="succeeded", started_at=RUN_STAMPS[1]))
            write_raw(engine, rows)
            begin = time.perf_counter()
            rollup.rebuild(engine)  # what the cost job keeps up to date
            rebuild = time.perf_counter() - begin
            table.append([backend, "rollup: full rebuild", "", f"{rebuild:.3f}", f"{rebuild:.3f}"])
            with engine.begin() as connection:
                connection.execute(text("ANALYZE"))
            for name, by in READS.items():
                times = []
                for _ in range(args.repeats):
                    begin = time.perf_counter()
                    with Session(engine) as session:
                        result = spend(session, *MONTH, by)
                    times.append(time.perf_counter() - begin)
                times.sort()
                p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                table.append([backend, name, f"{len(result):,}", f"{statistics.median(times):.3f}", f"{p95:.3f}"])
                print(f"{backend} {name}: p50 {statistics.median(times):.3f} s", file=sys.stderr)
            engine.dispose()
    print(markdown_table(["backend", "read", "result rows", "p50 s", "p95 s"], table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
