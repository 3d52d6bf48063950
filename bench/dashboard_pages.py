"""Each dashboard page rendered server-side (Streamlit's AppTest, no browser) on a large attributed
store, on SQLite and PostgreSQL: p50/p95 of renders with empty caches (what the first viewer after a
cache expiry waits for), and one warm render.

    .venv/bin/python bench/dashboard_pages.py [--rows 10000000] [--repeats 5] [--backends sqlite,postgresql]
                                              [--keep DIR]

With --keep DIR the stores are kept and reused by the next run with the same --rows (see
bench.big_tenant.big_store); bench/reports.py reads the same ones.

Each time is the page script's own render, as a Streamlit server runs it on a rerun (queries, frames,
charts), not AppTest's harness around it; a drill-down counts its slowest step (one render per choice).

The store is bench/big_tenant.py's (three years of an attributed tenant, written with the raw driver
path), with its daily rollup built as the cost job would. Besides every page as it opens, the Spend
page is rendered the ways a user narrows it: by resource for the month, one project by model and
meter, and the drill-down from a project down to one resource's cost rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import os

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from streamlit.runtime.caching import cache_data_api, cache_resource_api
from streamlit.testing.v1 import AppTest

from bench import _render_clock
from bench._db import markdown_table, parse_backends
from bench.big_tenant import big_store, make_tenant
from collector.db.engine import make_engine
from collector.db.models import CostRow, DailySpend

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("overview", "spend", "deployments", "quota", "subscriptions", "alerts", "reports", "status")
PROJECT = "proj-0042"


def _page(name: str, root: str) -> None:
    # AppTest runs this function's source as the page script, so it keeps its own imports.
    import importlib
    import sys

    sys.path.insert(0, root)
    from bench import _render_clock

    _render_clock.timed(importlib.import_module(f"dashboard.views.{name}").render)


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


def _clear_caches() -> None:
    cache_data_api.CacheDataAPI.clear(None)  # type: ignore[arg-type]
    cache_resource_api.CacheResourceAPI.clear(None)  # type: ignore[arg-type]


def _timed(scenario: Callable[[], AppTest]) -> float:
    """The slowest render of the page script in the scenario (a drill-down is one per choice made).

    The script's own time, as a Streamlit server spends it on a rerun: not AppTest's harness around it,
    which scans every installed package for components on each run (0.4 s here) and polls for the
    script's output."""
    _render_clock.RENDERS.clear()
    scenario()
    return max(_render_clock.RENDERS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--keep", metavar="DIR", help="keep and reuse the stores (SQLite's in DIR)")
    args = parser.parse_args(argv)
    table, sizes = [], []
    for backend in parse_backends(args.backends):
        with big_store(backend, args.rows, args.keep) as (url, loaded, rebuilt):
            engine = make_engine(url)
            tenant = make_tenant(args.rows, 42)
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
