"""`costwatch-emulator demo`: the emulator, a collection into an embedded SQLite, alert evaluation, and the
dashboard. It drives costwatch as its scheduler would; costwatch itself never imports the emulator."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from collector.alerts.engine import evaluate
from collector.db.engine import make_engine, upgrade
from collector.jobs.costs import collect
from collector.jobs.quota import run_quota
from collector.jobs.traffic import run_metrics
from collector.periods import add_months
from collector.read.spend import spend
from collector.runs import utcnow
from collector.settings import load_settings

from .server import EmulatorServer
from .tenant import TenantSpec, generate_tenant

DEMO_TOKEN = "demo-token-not-a-secret"  # the emulator accepts any bearer token


def run_demo(workdir: Path, *, port: int, dashboard: bool, echo: Callable[[str], None]) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    database = (workdir / "demo.db").resolve()
    url = f"sqlite:///{database}"
    spec = TenantSpec(seed=42, foundry=True)
    with EmulatorServer(generate_tenant(spec)) as server:
        echo(f"emulator: {server.url} (CA {server.ca_path})")
        env = {
            "COSTWATCH_DATABASE_URL": url,
            "COSTWATCH_ARM_ENDPOINT": server.url,
            "COSTWATCH_ARM_TOKEN": DEMO_TOKEN,
            "COSTWATCH_CA_BUNDLE": str(server.ca_path),
            # The emulator's query budget is the demo's alone: no other tool to leave half of it to.
            "COSTWATCH_COSTS__QPU_SHARE": "1.0",
            # The units of its plans' token meters, as an operator states them from the price sheets.
            "COSTWATCH_COSTS__UNITS": json.dumps(server.tenant.meter_units),
            # Yesterday's traffic whole: a day for the cost per million tokens and the offer comparisons.
            "COSTWATCH_METRICS__FIRST_LOOKBACK_HOURS": str(24 + utcnow().hour + 2),
        }
        os.environ.update(env)
        settings = load_settings()
        upgrade(url)
        engine = make_engine(url)
        today = server.tenant.today
        since = add_months(today.replace(day=1), -spec.history_months)
        summary = collect(settings, engine, since=since, today=today, progress=echo)
        echo(
            f"collected run {summary.run_id}: {summary.status}, {summary.rows_written} rows, "
            f"{summary.qpu_used} QPU, {summary.seconds:.1f} s"
        )
        for job in (run_quota, run_metrics):
            extra = job(settings, engine, progress=echo)
            echo(f"{extra.kind} run {extra.run_id}: {extra.status}, {extra.rows_written} rows")
        # The alerts its tenant deserves, on the Overview and Alerts pages (no channel is set: none is sent).
        alerts = evaluate(settings, engine)
        firing = [*alerts.firing, *alerts.still_firing]  # a rerun on the same store: still firing counts too
        echo(f"alerts: {len(firing)} firing" + "".join(f"\n  {key}" for key in firing))
        # The month of the last day with costs: on the 1st, Azure (and the emulator) has none of today's yet.
        as_of = server.tenant.history_end
        with Session(engine) as session:
            for row in spend(session, as_of.replace(day=1), as_of, ["project"]):
                echo(f"  {as_of:%B} to date  {row.keys['project']:<28} {row.cost:>14.2f} {row.currency}")
        if not dashboard:
            return
        echo(f"dashboard: http://127.0.0.1:{port}  (Ctrl-C stops the demo)")
        command = [sys.executable, "-m", "collector.cli", "dashboard", "--port", str(port)]
        with contextlib.suppress(KeyboardInterrupt):
            subprocess.call(command, env={**os.environ, **env})
