"""Each dashboard page rendered server-side (Streamlit's AppTest, no browser) on a large attributed
store, on SQLite and PostgreSQL: p50/p95 of renders with empty caches (what the first viewer after a
cache expiry waits for), and one warm render.

    .venv/bin/python bench/dashboard_pages.py [--rows 10000000] [--repeats 5] [--backends sqlite,postgresql]
                                              [--keep DIR]

With --keep DIR the SQLite store is kept as DIR/pages-<rows>.db and reused by the next run with the
same --rows (filling 10 million rows takes a quarter of an hour); PostgreSQL's is always rebuilt.

The store is bench/big_tenant.py's (three years of an attributed tenant, written with the raw driver
path), with its daily rollup built as the cost job would. Besides every page as it opens, the Spend
page is rendered the ways a user narrows it: by resource for the month, one project by model and
meter, and the drill-down from a project down to one resource's cost rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import os

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session
from streamlit.runtime.caching import cache_data_api, cache_resource_api
from streamlit.testing.v1 import AppTest

from bench._db import markdown_table, parse_backends, store
from bench.big_tenant import fill, make_tenant
from collector import rollup
from collector.db.engine import make_engine, upgrade
from collector.db.models import CostRow, DailySpend

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("overview", "spend", "deployments", "quota", "subscriptions", "alerts", "reports", "status")
PROJECT = "proj-0042"


def _page(name: str, root: str) -> None:
    import importlib
    import sys

    sys.path.insert(0, root)
    importlib.import_module(f"dashboard.pages.{name}").render()


def _app(name: str, params: dict[str, str] | None = None) -> AppTest:
    app = AppTest.from_function(_page, args=(name, str(ROOT)), default_timeout=300)
    app.query_params.update(params or {})
    return app


def _checked(app: AppTest) -> AppTest:
    if app.exception:
        raise RuntimeError(str(app.exception))
    return app


def _drill_down() -> AppTest:
    """Spend for one project, then its first model, meter and resource chosen in the drill-down."""
    app = _checked(_app("spend", {"project": PROJECT}).run())
    for level in ("project", "model", "meter", "resource"):
        box = app.selectbox(key=f"drill_{level}")
        app = _checked(box.select(box.options[0]).run())
    return app


SCENARIOS: dict[str, Callable[[], AppTest]] = {
    **{name: (lambda name=name: _checked(_app(name).run())) for name in PAGES},  # type: ignore[misc]
    "spend by resource": lambda: _checked(_app("spend", {"by": "resource"}).run()),
    f"spend of {PROJECT} by model, meter": lambda: _checked(
        _app("spend", {"project": PROJECT, "by": "model,meter"}).run()
    ),
    "spend drill-down to cost rows": _drill_down,
}


@contextmanager
def _kept_store(path: Path) -> Iterator[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{path}"
    upgrade(url)
    yield url


def _filled(engine: Engine) -> bool:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(DailySpend)) > 0


def _clear_caches() -> None:
    cache_data_api.CacheDataAPI.clear(None)  # type: ignore[arg-type]
    cache_resource_api.CacheResourceAPI.clear(None)  # type: ignore[arg-type]


def _timed(scenario: Callable[[], AppTest]) -> float:
    begin = time.perf_counter()
    scenario()
    return time.perf_counter() - begin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--keep", help="keep and reuse the SQLite store in this folder")
    args = parser.parse_args(argv)
    table, sizes = [], []
    for backend in parse_backends(args.backends):
        kept = Path(args.keep) / f"pages-{args.rows}.db" if args.keep and backend == "sqlite" else None
        with _kept_store(kept) if kept else store(backend, "costwatch_bench_dashboard") as url:
            engine = make_engine(url)
            loaded = rebuilt = 0.0
            tenant = make_tenant(args.rows, 42)
            if not _filled(engine):
                begin = time.perf_counter()
                fill(engine, args.rows)
                loaded = time.perf_counter() - begin
                begin = time.perf_counter()
                rollup.rebuild(engine)
                rebuilt = time.perf_counter() - begin
                with engine.begin() as connection:
                    connection.execute(text("ANALYZE"))
            with Session(engine) as session:
                rows = session.scalar(select(func.count()).select_from(CostRow))
                rolled = session.scalar(select(func.count()).select_from(DailySpend))
            engine.dispose()
            sizes.append(
                [
                    backend,
                    f"{rows:,}",
                    f"{rolled:,}",
                    tenant.projects,
                    tenant.subscriptions,
                    f"{loaded:.0f}" if loaded else "(kept)",
                    f"{rebuilt:.0f}" if rebuilt else "(kept)",
                ]
            )
            print(f"{backend}: {rows:,} rows loaded in {loaded:.0f} s, rollup in {rebuilt:.0f} s", file=sys.stderr)
            os.environ["COSTWATCH_DATABASE_URL"] = url
            _clear_caches()
            _timed(SCENARIOS["overview"])  # the process's first imports are not a page's cost
            for name, scenario in SCENARIOS.items():
                cold = []
                for _ in range(args.repeats):
                    _clear_caches()
                    cold.append(_timed(scenario))
                warm = _timed(scenario)
                cold.sort()
                p95 = cold[min(len(cold) - 1, round(0.95 * (len(cold) - 1)))]
                table.append([backend, name, f"{statistics.median(cold):.2f}", f"{p95:.2f}", f"{warm:.2f}"])
                print(f"{backend} {name}: cold p50 {statistics.median(cold):.2f} s, warm {warm:.2f} s", file=sys.stderr)
            _clear_caches()
    print(
        markdown_table(
            ["backend", "cost rows", "rollup rows", "projects", "subscriptions", "load s", "rollup build s"], sizes
        )
    )
    print()
    print(markdown_table(["backend", "page", "cold p50 s", "cold p95 s", "warm s"], table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
