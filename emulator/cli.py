"""`costwatch-emulator` (also `python -m emulator`): serve the synthetic tenant, or run the demo on it.

The emulator is costwatch's test double, installed with the `emulator` extra; costwatch itself never
imports it, so a production install needs neither this package's server nor trustme."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from collector.logs import configure as configure_logging

from .server import EmulatorServer, serve_forever
from .tenant import TenantSpec, generate_tenant


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="costwatch-azure", prog_name="costwatch-emulator")
def main() -> None:
    """A local stand-in for Azure Resource Manager over a synthetic, seeded tenant."""
    # costwatch's logging, which keeps azure-core's per-request lines out of the demo's console.
    configure_logging("INFO")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8443, show_default=True, type=int, help="0 picks a free port.")
@click.option("--seed", default=42, show_default=True, type=int, help="Seed of the synthetic tenant.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="The tenant's today (default: UTC today).")
@click.option("--history-months", default=3, show_default=True, type=int)
@click.option("--subscriptions", default=4, show_default=True, type=int)
@click.option("--extra-projects", default=0, show_default=True, type=int, help="Extra projects per subscription.")
@click.option("--metrics-lag", default=0, show_default=True, type=int, help="Minutes metrics trail the wall clock.")
@click.option("--quiet", is_flag=True, help="A tenant on which no alert rule fires.")
@click.option("--no-foundry", is_flag=True, help="A tenant without Foundry resources.")
@click.option(
    "--ca-dir",
    default=".costwatch",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Where to write the emulator's CA certificate (point COSTWATCH_CA_BUNDLE at it).",
)
@click.option(
    "--print-truth",
    "truth_by",
    metavar="DIMS",
    help="Print the tenant's exact spend grouped by DIMS (e.g. project,model,meter) as JSON, and exit.",
)
def serve(
    host: str,
    port: int,
    seed: int,
    today: datetime | None,
    history_months: int,
    subscriptions: int,
    extra_projects: int,
    metrics_lag: int,
    quiet: bool,
    no_foundry: bool,
    ca_dir: Path,
    truth_by: str | None,
) -> None:
    """Serve the tenant until interrupted, printing the settings that point costwatch at it."""
    spec = TenantSpec(
        seed=seed,
        today=today.date() if today else None,
        history_months=history_months,
        subscriptions=subscriptions,
        extra_projects_per_subscription=extra_projects,
        metrics_lag_minutes=metrics_lag,
        quiet=quiet,
        foundry=not no_foundry,
    )
    if truth_by:
        tenant = generate_tenant(spec)
        rows = tenant.truth([d.strip() for d in truth_by.split(",")], tenant.history_start, tenant.history_end)
        click.echo(json.dumps([{**r, "cost": str(r["cost"])} for r in rows], indent=2, default=str))
        return

    def ready(server: EmulatorServer) -> None:
        scopes = server.tenant.wide_scopes.items()
        click.echo(
            f"emulator on {server.url}; point costwatch at it with:\n"
            f"  export COSTWATCH_ARM_ENDPOINT={server.url} COSTWATCH_CA_BUNDLE={server.ca_path} "
            "COSTWATCH_ARM_TOKEN=any-token\n"
            "to query every subscription at once (one query a month), also one of:\n"
            + "\n".join(f"  export COSTWATCH_COSTS__SCOPE={scope}  # the {what}" for what, scope in scopes)
        )

    serve_forever(spec, host, port, ca_dir, on_ready=ready)


@main.command()
@click.option("--port", default=8501, show_default=True, type=int, help="Dashboard port.")
@click.option("--no-dashboard", is_flag=True, help="Collect, evaluate the alerts, print the spend, and stop.")
@click.option("--workdir", default=".costwatch", show_default=True, type=click.Path(path_type=Path))
def demo(port: int, no_dashboard: bool, workdir: Path) -> None:
    """Emulator + collection into an embedded SQLite + alerts + the dashboard, in one go."""
    from .demo import run_demo

    run_demo(workdir, port=port, dashboard=not no_dashboard, echo=click.echo)
