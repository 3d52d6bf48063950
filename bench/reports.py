"""The monthly report of a large tenant, in every format, on SQLite and PostgreSQL.

    .venv/bin/python bench/reports.py [--rows 10000000] [--month 2026-10] [--repeats 3]
                                      [--backends sqlite,postgresql] [--keep DIR]

The store is bench/big_tenant.py's (three years of an attributed tenant; with --keep DIR the one
bench/dashboard_pages.py keeps). For each format `collector.reports.files.generate` builds the month's
report from the store, renders it and writes the file, as `costwatch report --month` does: p50 of the
repeats, the file's size, and the process's peak RSS (VmHWM) after all of them. FOCUS lists every cost
row of the month (about 280,000 here); the other formats summarise them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._db import markdown_table, parse_backends, peak_rss_mib
from bench.big_tenant import big_store
from collector.db.engine import make_engine
from collector.read.monthly_report import parse_month
from collector.reports.files import FORMATS, generate
from collector.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--month", default="2026-10")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--keep", metavar="DIR", help="keep and reuse the stores (SQLite's in DIR)")
    args = parser.parse_args(argv)
    month = parse_month(args.month)
    table = []
    for backend in parse_backends(args.backends):
        with big_store(backend, args.rows, args.keep) as (url, _, _), tempfile.TemporaryDirectory() as out:
            engine = make_engine(url)
            settings = load_settings(None, database_url=url)
            for fmt in FORMATS:
                seconds, size = [], 0
                for _ in range(args.repeats):
                    begin = time.perf_counter()
                    made = generate(engine, settings, month, fmt, out + "/")
                    seconds.append(time.perf_counter() - begin)
                    size = made.size
                lines = len(made.report.lines)
                rss = peak_rss_mib()  # the process's high-water mark so far
                table.append(
                    [backend, fmt, f"{statistics.median(seconds):.2f}", f"{size:,}", f"{lines:,}", f"{rss:,.0f}"]
                )
                print(f"{backend} {fmt}: {statistics.median(seconds):.2f} s, {size:,} bytes", file=sys.stderr)
            engine.dispose()
    print(markdown_table(["backend", "format", "p50 s", "bytes", "report lines", "peak RSS so far MiB"], table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
