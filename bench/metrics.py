"""The metrics job: metrics:getBatch (MetricsClient) against one ARM metrics call per deployment.

A seeded tenant with K scale-out projects per subscription (each with 1-3 serverless deployments) is
inventoried once into a SQLite store; then the metrics job runs once each way, side by side in one
process and one emulator, from an empty traffic table each time (the first pull: `first_lookback_hours`
of minutes). The table gives the Azure Monitor calls each way and the wall time of the run.

    python bench/metrics.py [--projects K] [--lookback-hours H]

Azure Monitor's own limits bind before local CPU: ARM metrics calls count against the ARM read budget
(a bucket of 250, refilled at 25 a second per principal and region), and the data plane's
metrics:getBatch answers 50 resources a call.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import date

from _db import markdown_table, sqlite_store
from sqlalchemy import delete
from sqlalchemy.orm import Session

from collector.db.engine import make_engine
from collector.db.models import TrafficHour, TrafficMinute
from collector.jobs.inventory import run_inventory
from collector.jobs.traffic import run_metrics
from collector.runs import utcnow
from collector.settings import load_settings
from emulator import EmulatorServer, TenantSpec, generate_tenant

TOKEN = "bench-token-not-a-secret"
LIFTED = {"qpu_per_10s": 10**6, "qpu_per_minute": 10**6, "qpu_per_hour": 10**6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=150, help="scale-out projects per subscription")
    parser.add_argument("--lookback-hours", type=int, default=1, help="minutes of the first pull, in hours")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    spec = TenantSpec(seed=42, today=date(2026, 11, 25), extra_projects_per_subscription=args.projects, **LIFTED)
    rows = []
    with EmulatorServer(generate_tenant(spec)) as server, sqlite_store() as url:
        deployments = len(server.tenant.serverless_endpoints)
        base = {"database_url": url, "arm_endpoint": server.url, "arm_token": TOKEN, "ca_bundle": server.ca_path}
        engine = make_engine(url)
        run_inventory(load_settings(None, **base), engine)
        for label, batch in (("metrics:getBatch (MetricsClient)", True), ("one ARM call per deployment", False)):
            with Session(engine) as session, session.begin():
                session.execute(delete(TrafficHour))
                session.execute(delete(TrafficMinute))
            settings = load_settings(
                None, **base, metrics={"batch": batch, "first_lookback_hours": args.lookback_hours}
            )
            server.stats.clear()
            print(f"{label}: {deployments} deployments...", file=sys.stderr)
            started = time.perf_counter()
            summary = run_metrics(settings, engine, now=utcnow())
            seconds = time.perf_counter() - started
            calls = server.stats.count("metrics_batch") + server.stats.count("metrics")
            rows.append([label, deployments, calls, summary.rows_written, f"{seconds:.1f}", summary.status])
        engine.dispose()
    print(markdown_table(["metrics job", "deployments", "Azure Monitor calls", "minute rows", "seconds", "run"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
