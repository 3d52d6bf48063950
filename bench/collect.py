"""End to end: `collector.jobs.costs.collect` from the Azure emulator into SQLite and PostgreSQL.

One synthetic tenant (seeded, `today` pinned to 2026-11-25, --months of history (3), K scale-out
projects per subscription, Cost Management limits lifted so no run waits on QPU) is collected whole
into a freshly migrated store per database, exactly as `costwatch collect --since <history start>`
would: inventory, every subscription-month cost chunk (all nextLink pages), attribution.

The emulator runs in this process (a fresh server per database, same spec, so neither run finds
the other's cost ledger cached); the collection runs in a spawned child process, so its peak RSS
(the child's VmHWM from /proc/self/status: the whole process, interpreter, SDKs, SQLAlchemy and the
rows it holds; not the Python heap alone) and its CPU (getrusage) are its own, not the emulator's.
The emulator's CPU (this process's) and the PostgreSQL server's (its processes') during the
collection are read from /proc beside it, so the table shows what each part costs per row.

    python bench/collect.py [--projects K] [--months M] [--backends sqlite,postgresql] [--profile DIR] [--phases]

The emulator's cost ledger is generated before the clock starts (Azure's cost data exists before it
is queried); each query's answer is still computed, paged and encoded when asked. K=285 with M=36
makes a tenant of about 5 million cost rows.

--profile runs the collection under cProfile (about twice as slow: don't compare its timings),
writes DIR/collect-<backend>.prof and prints the top functions to stderr. --phases adds a table of
where the time went: wall and thread CPU per phase of the run (bench/_phases.py), at full speed.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import logging
import os
import pstats
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from datetime import date
from multiprocessing import get_context
from pathlib import Path

from _db import markdown_table, own_cpu_seconds, parse_backends, peak_rss_mib, process_cpu, store
from _phases import PHASE_HEADERS, phase_clock, phase_table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collector.db.engine import make_engine
from collector.db.models import CostRow
from collector.jobs.costs import collect
from collector.periods import add_months
from collector.settings import load_settings
from emulator import EmulatorServer, Tenant, TenantSpec, generate_tenant

TODAY = date(2026, 11, 25)
TOKEN = "bench-token-0f8fad5b"  # the emulator accepts any bearer token
POSTGRES_DATABASE = "costwatch_bench_collect"


def tenant_spec(projects: int, seed: int, months: int = 3) -> TenantSpec:
    return TenantSpec(
        seed=seed,
        today=TODAY,
        history_months=months,
        extra_projects_per_subscription=projects,
        ledger_cache_records=50_000_000,  # the whole ledger stays generated (see pregenerate)
        qpu_per_10s=10**6,
        qpu_per_minute=10**6,
        qpu_per_hour=10**7,
        page_size=5000,
    )


@dataclass
class Measured:
    backend: str
    rows_written: int
    rows_stored: int
    seconds: float
    collect_seconds: float  # RunSummary.seconds, as the run records it
    cpu_seconds: float  # the child's user + system CPU during collect
    emulator_cpu_seconds: float  # this (the parent's) process's, serving the emulator meanwhile
    server_cpu_seconds: float  # the PostgreSQL server's processes' (0 on SQLite: it runs in the child)
    rss_before_mib: float
    rss_peak_mib: float
    qpu_used: int
    api_calls: int
    throttled: int
    scopes: int
    status: str
    failures: int
    phases: dict[str, list[float]]  # with --phases: {phase: [calls, wall s, thread CPU s]}


def _others_cpu_seconds() -> tuple[float, float]:
    """User + system CPU so far of the emulator (this benchmark's parent process) and of the
    PostgreSQL server (every `postgres` process), which the child's getrusage does not see; from
    /proc (Linux), in one pass."""
    parent, emulator, server = os.getppid(), 0.0, 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or (found := process_cpu(entry.name)) is None:
            continue
        name, seconds = found
        if int(entry.name) == parent:
            emulator += seconds
        elif name in ("postgres", "postmaster"):
            server += seconds
    return emulator, server


def collect_into(
    backend: str,
    server_url: str,
    ca_path: str,
    since: date,
    today: date,
    profile_dir: str | None,
    scope: str,
    phases: bool,
) -> Measured:
    """In the child process: migrate a fresh store, collect the tenant into it, measure."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with store(backend, POSTGRES_DATABASE) as url:
        # As tests/emulated.py's settings_for builds them.
        settings = load_settings(
            None,
            database_url=url,
            arm_endpoint=server_url,
            arm_token=TOKEN,
            ca_bundle=ca_path,
            retry_backoff_seconds=0.05,
            costs={"scope": scope or None},
        )
        engine = make_engine(url)
        rss_before = peak_rss_mib()
        cpu_before, others_before = own_cpu_seconds(), _others_cpu_seconds()
        profiler = cProfile.Profile() if profile_dir else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        with phase_clock() if phases else nullcontext({}) as spent:
            summary = collect(settings, engine, since=since, today=today, progress=_progress(backend))
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
        cpu, others = own_cpu_seconds() - cpu_before, _others_cpu_seconds()
        emulator_cpu, server_cpu = (after - before for after, before in zip(others, others_before, strict=True))
        rss_peak = peak_rss_mib()
        with Session(engine) as session:
            stored = session.scalar(select(func.count()).select_from(CostRow)) or 0
        engine.dispose()
    if profiler and profile_dir:
        path = Path(profile_dir) / f"collect-{backend}.prof"
        profiler.dump_stats(path)
        print(f"\n--- {backend}: cProfile of collect ({path}), top by own time ---", file=sys.stderr)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        print(f"--- {backend}: top by cumulative time ---", file=sys.stderr)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    return Measured(
        backend=backend,
        rows_written=summary.rows_written,
        rows_stored=stored,
        seconds=seconds,
        collect_seconds=summary.seconds,
        cpu_seconds=cpu,
        emulator_cpu_seconds=emulator_cpu,
        server_cpu_seconds=server_cpu,
        rss_before_mib=rss_before,
        rss_peak_mib=rss_peak,
        qpu_used=summary.qpu_used,
        api_calls=summary.api_calls,
        throttled=summary.throttled,
        scopes=summary.scopes,
        status=summary.status,
        failures=len(summary.failures),
        phases=dict(spent),
    )


class _progress:
    """Progress lines on stderr, stamped with the seconds since the run began."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"  {self.backend} {time.perf_counter() - self.started:6.1f}s {message}", file=sys.stderr, flush=True)


def pregenerate(tenant: Tenant, since: date) -> int:
    """Generate the emulator's whole cost ledger before the clock starts, as Azure's cost data exists
    before anyone queries it; each query's answer (grouping, paging, JSON) is still computed when asked."""
    generated = sum(
        1 for s in tenant.subscriptions for _ in tenant.ledger.records(s.subscription_id, since, tenant.today)
    )
    # Millions of long-lived records: out of the garbage collector's sight, or every full collection
    # of the emulator's process rescans them all.
    gc.freeze()
    return generated


def run_backend(
    backend: str, projects: int, months: int, seed: int, profile_dir: str | None, wide: bool, phases: bool
) -> Measured:
    tenant = generate_tenant(tenant_spec(projects, seed, months))
    since = add_months(tenant.today.replace(day=1), -tenant.spec.history_months)
    print(f"{backend}: {pregenerate(tenant, since):,} cost records generated", file=sys.stderr, flush=True)
    with (
        EmulatorServer(tenant) as server,
        ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool,
    ):
        scope = tenant.wide_scopes["billing account"] if wide else ""
        future = pool.submit(
            collect_into, backend, server.url, str(server.ca_path), since, tenant.today, profile_dir, scope, phases
        )
        return future.result()


def report(results: list[Measured], projects: int, months: int) -> str:
    headers = [
        "backend",
        "K",
        "months",
        "rows",
        "s",
        "rows/s",
        "CPU s (collector)",
        "CPU s (emulator)",
        "CPU s (PostgreSQL)",
        "peak RSS MiB",
        "RSS before collect MiB",
        "QPU",
        "cost-query calls",
        "throttled",
        "status",
    ]
    rows = [
        [
            r.backend,
            projects,
            months,
            f"{r.rows_written:,}",
            f"{r.seconds:.1f}",
            f"{r.rows_written / r.seconds:,.0f}",
            f"{r.cpu_seconds:.1f}",
            f"{r.emulator_cpu_seconds:.1f}",
            f"{r.server_cpu_seconds:.1f}" if r.backend.startswith("postgresql") else "",
            f"{r.rss_peak_mib:,.0f}",
            f"{r.rss_before_mib:,.0f}",
            r.qpu_used,
            r.api_calls,
            r.throttled,
            r.status,
        ]
        for r in results
    ]
    return markdown_table(headers, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--projects", type=int, default=150, help="scale-out projects per subscription, K (150: ~280,000 rows)"
    )
    parser.add_argument("--months", type=int, default=3, help="months of history before the current one")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma list: sqlite, postgresql")
    parser.add_argument("--wide", action="store_true", help="query at the billing account ([costs] scope)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--profile", metavar="DIR", help="run under cProfile; write DIR/collect-<backend>.prof")
    parser.add_argument("--phases", action="store_true", help="also print wall and thread CPU per phase of the run")
    args = parser.parse_args(argv)
    backends = parse_backends(args.backends)
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
    results = []
    for backend in backends:
        print(f"{backend}: collecting (K={args.projects}, {args.months} months) ...", file=sys.stderr, flush=True)
        measured = run_backend(backend, args.projects, args.months, args.seed, args.profile, args.wide, args.phases)
        print(f"{backend}: {asdict(measured)}", file=sys.stderr, flush=True)
        if measured.rows_stored != measured.rows_written:  # a correctness check, not a timing one
            raise SystemExit(
                f"{backend}: wrote {measured.rows_written} rows but the store holds {measured.rows_stored}"
            )
        results.append(measured)
    print(report(results, args.projects, args.months))
    if args.phases:
        rows = [row for r in results for row in phase_table(r.backend, r.rows_written, r.phases)]
        print("\n" + markdown_table(PHASE_HEADERS, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
