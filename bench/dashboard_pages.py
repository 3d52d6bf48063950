"""Each dashboard page rendered server-side (Streamlit's AppTest, no browser) on a large store, cold
(first render, caches empty) and warm (rendered again), on SQLite and PostgreSQL.

    .venv/bin/python bench/dashboard_pages.py [--rows 2000000] [--backends sqlite,postgresql]

The rows are bench/ingest.py's, written with the raw driver path, then the daily rollup is built as
the cost job would. They carry no inventory, so every cost is `(unattributed)`: the pages' shape of
work is real, their tables are short.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from bench._db import markdown_table, parse_backends, store
from bench.ingest import RUN_STAMPS, make_rows, write_raw
from collector import rollup
from collector.db.engine import make_engine
from collector.db.models import CollectionRun

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("overview", "spend", "deployments", "quota", "subscriptions", "alerts", "reports", "status")


def _page(name: str, root: str) -> None:
    import importlib
    import sys

    sys.path.insert(0, root)
    importlib.import_module(f"dashboard.pages.{name}").render()


def render(name: str) -> float:
    app = AppTest.from_function(_page, args=(name, str(ROOT)), default_timeout=120)
    begin = time.perf_counter()
    app.run()
    seconds = time.perf_counter() - begin
    if app.exception:
        raise RuntimeError(f"{name}: {app.exception}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    rows = make_rows(args.rows, 42)
    table = []
    for backend in parse_backends(args.backends):
        with store(backend, "costwatch_bench_dashboard") as url:
            engine = make_engine(url)
            with Session(engine) as session, session.begin():
                session.add(CollectionRun(id=1, kind="costs", status="succeeded", started_at=RUN_STAMPS[1]))
            write_raw(engine, rows)
            rollup.rebuild(engine)
            engine.dispose()
            os.environ["COSTWATCH_DATABASE_URL"] = url
            for name in PAGES:
                cold = render(name)  # a fresh AppTest: Streamlit's caches persist in the process, though
                warm = render(name)
                table.append([backend, name, f"{cold:.2f}", f"{warm:.2f}"])
                print(f"{backend} {name}: {cold:.2f} s / {warm:.2f} s", file=sys.stderr)
            from streamlit.runtime.caching import cache_data_api, cache_resource_api

            cache_data_api.CacheDataAPI.clear(None)  # type: ignore[arg-type]
            cache_resource_api.CacheResourceAPI.clear(None)  # type: ignore[arg-type]
    print(markdown_table(["backend", "page", "first render s", "second render s"], table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
