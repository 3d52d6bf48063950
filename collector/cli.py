"""The `costwatch` command."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from collector.settings import Settings, SettingsError, load_settings

log = logging.getLogger("costwatch")


class _Context:
    def __init__(self, config: Path | None) -> None:
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config)
            except SettingsError as exc:
                raise click.ClickException(str(exc)) from None
            logging.getLogger().setLevel(self._settings.log_level)
        return self._settings

    @property
    def database_url(self) -> str:
        return self.settings.database_url.get_secret_value()


pass_ctx = click.make_pass_decorator(_Context)


def _date(_ctx: Any, _param: Any, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(path_type=Path),
    envvar="COSTWATCH_CONFIG",
    help="TOML settings file (default: $COSTWATCH_CONFIG; every key also from COSTWATCH_<KEY>).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, verbose: bool) -> None:
    """costwatch: what your Azure AI Studio model deployments cost."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # azure-core logs every request at INFO; its URLs are fine but the volume is not.
    logging.getLogger("azure").setLevel(logging.WARNING)
    ctx.obj = _Context(config)


@cli.group()
def db() -> None:
    """Manage the store's schema."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(obj: _Context) -> None:
    """Create or migrate the database to the current schema."""
    from collector.db.engine import redact, upgrade

    upgrade(obj.database_url)
    click.echo(f"database {redact(obj.database_url)} is at the current schema")


@db.command("current")
@pass_ctx
def db_current(obj: _Context) -> None:
    """Show the database's schema revision and the one this costwatch needs."""
    from collector.db.engine import current_revision, head_revision, make_engine

    engine = make_engine(obj.database_url)
    click.echo(f"current: {current_revision(engine) or '(empty)'}  needed: {head_revision(obj.database_url)}")


@cli.command()
@click.option("--since", callback=_date, help="First day to collect (default: the restatement window's start).")
@click.option("--until", callback=_date, help="Last day to collect (default: today, UTC).")
@pass_ctx
def collect(obj: _Context, since: date | None, until: date | None) -> None:
    """Pull inventory and per-meter costs into the store (idempotent: reruns change nothing)."""
    from collector.azure.arm import AzureCallError
    from collector.db.engine import SchemaOutOfDate, make_engine, require_current_schema
    from collector.pipeline import collect as run_collect

    settings = obj.settings
    engine = make_engine(obj.database_url)
    try:
        require_current_schema(engine, obj.database_url)
    except SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from None
    try:
        summary = run_collect(
            settings, engine, since=since, until=until, progress=lambda msg: click.echo(msg, err=True)
        )
    except (ValueError, AzureCallError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"run {summary.run_id} {summary.status}: {summary.window_from}..{summary.window_to}, "
        f"{summary.scopes} scope(s), {summary.rows_written} rows written, {summary.rows_removed} removed, "
        f"{summary.rows_rejected} rejected, {summary.qpu_used} QPU in {summary.api_calls} cost queries "
        f"({summary.throttled} throttled), {summary.seconds:.1f} s"
    )
    for resource_id, why in summary.unattributed:
        click.echo(f"unattributed: {resource_id}: {why}")
    for failure in summary.failures:
        click.echo(f"FAILED {failure}", err=True)
    if summary.failures:
        sys.exit(1)


@cli.command()
@click.option("--from", "date_from", callback=_date, required=True, help="First day, inclusive (YYYY-MM-DD).")
@click.option("--to", "date_to", callback=_date, required=True, help="Last day, inclusive (YYYY-MM-DD).")
@click.option(
    "--by",
    default="project,model",
    show_default=True,
    help="Comma list of: project, model, meter, subscription, resource, day.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--include-other", is_flag=True, help="Also show spend that is not AI spend.")
@pass_ctx
def spend(obj: _Context, date_from: date, date_to: date, by: str, fmt: str, include_other: bool) -> None:
    """Spend per currency, grouped by the given dimensions."""
    from sqlalchemy.orm import Session

    from collector.db.engine import make_engine
    from collector.spend import DIMENSIONS
    from collector.spend import spend as query_spend

    dims = [d.strip() for d in by.split(",") if d.strip()]
    unknown = [d for d in dims if d not in DIMENSIONS]
    if unknown or not dims:
        raise click.BadParameter(f"unknown {unknown}; choose from {', '.join(DIMENSIONS)}", param_hint="--by")
    if date_from > date_to:
        raise click.BadParameter(f"--from {date_from} is after --to {date_to}")
    with Session(make_engine(obj.database_url)) as session:
        rows = query_spend(session, date_from, date_to, dims, include_other=include_other)
    records = [{**{d: _plain(r.keys[d]) for d in dims}, "cost": str(r.cost), "currency": r.currency} for r in rows]
    click.echo(_render(records, [*dims, "cost", "currency"], fmt), nl=False)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _render(records: list[dict[str, Any]], columns: list[str], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(records, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return out.getvalue()
    widths = {c: max([len(c), *(len(str(r[c])) for r in records)]) for c in columns}
    right = {"cost"}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines.append("  ".join("-" * widths[c] for c in columns))
    for record in records:
        lines.append(
            "  ".join(
                str(record[c]).rjust(widths[c]) if c in right else str(record[c]).ljust(widths[c]) for c in columns
            )
        )
    if not records:
        lines.append("(no spend in this period)")
    return "\n".join(lines) + "\n"


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8443, show_default=True, type=int)
@click.option("--seed", default=42, show_default=True, type=int, help="Seed of the synthetic tenant.")
@click.option(
    "--ca-dir",
    default=".costwatch",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Where to write the emulator's CA certificate (point COSTWATCH_CA_BUNDLE at it).",
)
def emulator(host: str, port: int, seed: int, ca_dir: Path) -> None:
    """Serve the Azure Resource Manager emulator over a synthetic tenant (for demos and tests)."""
    from emulator import TenantSpec
    from emulator.server import serve_forever

    serve_forever(TenantSpec(seed=seed), host, port, ca_dir)


@cli.command()
@click.option("--port", default=8501, show_default=True, type=int)
@pass_ctx
def dashboard(obj: _Context, port: int) -> None:
    """Start the Streamlit dashboard on the configured database."""
    _ = obj.settings  # fail here, with the key named, rather than inside Streamlit
    app = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
    env = {**os.environ}
    if obj.config is not None:
        env["COSTWATCH_CONFIG"] = str(obj.config)
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.headless",
        "true",
    ]
    click.echo(f"dashboard on http://127.0.0.1:{port} (bound to localhost: no sign-in is configured)")
    sys.exit(subprocess.call(command, env=env))


@cli.command()
@click.option("--port", default=8501, show_default=True, type=int, help="Dashboard port.")
@click.option("--no-dashboard", is_flag=True, help="Collect, print the spend, and stop.")
@click.option("--workdir", default=".costwatch", show_default=True, type=click.Path(path_type=Path))
def demo(port: int, no_dashboard: bool, workdir: Path) -> None:
    """Emulator + collection into an embedded SQLite + the dashboard, in one go."""
    from collector.demo import run_demo

    run_demo(workdir, port=port, dashboard=not no_dashboard, echo=click.echo)


def main() -> None:
    cli(prog_name="costwatch")


if __name__ == "__main__":
    main()
