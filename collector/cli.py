"""The `costwatch` command."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from collector.extras import DISTRIBUTION, require
from collector.jobs import JOB_NAMES, runner
from collector.logs import configure as configure_logging
from collector.output import format_option, plain, render
from collector.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from collector.runs import RunSummary


class _Context:
    def __init__(self, config: Path | None, verbose: bool = False) -> None:
        self.config = config
        self.verbose = verbose
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config)
            except SettingsError as exc:
                raise click.ClickException(str(exc)) from None
            configure_logging("DEBUG" if self.verbose else self._settings.log_level, self._settings.log_format)
        return self._settings

    @property
    def database_url(self) -> str:
        return self.settings.database_url.get_secret_value()

    @property
    def loaded(self) -> bool:
        """Whether the settings were read (so that `database_url` raises nothing)."""
        return self._settings is not None


pass_ctx = click.make_pass_decorator(_Context)


class _Group(click.Group):
    """The `costwatch` group: a fault of the store, wherever a command meets it, ends the command with
    one message naming the store, what happened and what to do (exit code 1), not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import DBAPIError

        from collector.db.engine import MigrationsMissing
        from collector.db.faults import StoreError, store_error
        from collector.extras import MissingExtra

        try:
            return super().invoke(ctx)
        except (MigrationsMissing, MissingExtra) as exc:
            raise click.ClickException(str(exc)) from None
        except (StoreError, DBAPIError) as exc:
            obj = ctx.find_object(_Context)
            url = obj.database_url if obj is not None and obj.loaded else ""
            error = store_error(exc, url)
            if error is None:
                raise  # not the store's fault: costwatch's own, which keeps its traceback
            logging.getLogger("collector.cli").debug("store fault", exc_info=exc)  # the driver's words, with -v
            raise click.ClickException(str(error)) from None


def _date(_ctx: Any, _param: Any, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD") from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name=DISTRIBUTION, prog_name="costwatch")
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
    configure_logging("DEBUG" if verbose else "INFO")
    ctx.obj = _Context(config, verbose)


@cli.group()
def db() -> None:
    """Manage the store's schema."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(obj: _Context) -> None:
    """Create or migrate the database to the current schema."""
    from collector.db.engine import (
        current_revision,
        head_revision,
        known_revision,
        make_engine,
        newer_schema,
        redact,
        upgrade,
    )

    engine = make_engine(obj.database_url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    if current is not None and not known_revision(obj.database_url, current):
        raise click.ClickException(newer_schema(obj.database_url, current, head_revision(obj.database_url)))
    upgrade(obj.database_url)
    click.echo(f"database {redact(obj.database_url)} is at the current schema")


@db.command("current")
@pass_ctx
def db_current(obj: _Context) -> None:
    """Show the database's schema revision and the one this costwatch needs."""
    from collector.db.engine import current_revision, head_revision, make_engine

    engine = make_engine(obj.database_url)
    click.echo(f"current: {current_revision(engine) or '(empty)'}  needed: {head_revision(obj.database_url)}")


def _store(obj: _Context) -> Any:
    """The engine of a store at the current schema, or a clear error saying to upgrade it."""
    from collector.db.engine import SchemaOutOfDate, make_engine, require_current_schema

    engine = make_engine(obj.database_url)
    try:
        require_current_schema(engine, obj.database_url)
    except SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from None
    return engine


@cli.command()
@click.option(
    "--since", callback=_date, help="First day of costs to collect (default: the restatement window's start)."
)
@click.option("--until", callback=_date, help="Last day of costs to collect (default: today, UTC).")
@click.option(
    "--only",
    default="costs,quota,metrics",
    show_default=True,
    help="Comma list of jobs: costs (with inventory), inventory, quota, metrics.",
)
@format_option
@pass_ctx
def collect(obj: _Context, since: date | None, until: date | None, only: str, fmt: str) -> None:
    """Pull inventory, per-meter costs, VM-core quota and per-minute traffic into the store (idempotent)."""
    from collector.azure.arm import AzureCallError
    from collector.azure.clients import AzureClients

    jobs = [j.strip() for j in only.split(",") if j.strip()]
    unknown = [j for j in jobs if j not in JOB_NAMES]
    if unknown or not jobs:
        raise click.BadParameter(f"unknown {unknown}; choose from {', '.join(JOB_NAMES)}", param_hint="--only")
    settings = obj.settings
    engine = _store(obj)
    progress = lambda msg: click.echo(msg, err=True)  # noqa: E731 - progress goes to stderr, results to stdout
    summaries: list[tuple[str, RunSummary]] = []
    clients = AzureClients(settings)
    try:
        for job in jobs:
            try:
                window = {"since": since, "until": until} if job == "costs" else {}
                summary = runner(job)(settings, engine, clients=clients, progress=progress, **window)
            except (ValueError, AzureCallError) as exc:
                raise click.ClickException(f"{job}: {exc}") from None
            summaries.append((job, summary))
            if fmt == "table":
                click.echo(_run_line(job, summary))
    finally:
        clients.close()
    notes = [{"job": job, **note} for job, summary in summaries for note in _attribution_notes(summary)]
    if fmt == "table":
        for note in notes:
            click.echo(f"{note['attribution']}: {note['resource_id']}: {note['why']}")
    elif fmt == "json":
        records = [
            {**_run_record(job, s), "failures": s.failures, "attribution": _attribution_notes(s)}
            for job, s in summaries
        ]
        click.echo(render(records, RUN_COLUMNS, fmt), nl=False)
    else:
        click.echo(render([_run_record(j, s) for j, s in summaries], RUN_COLUMNS, fmt), nl=False)
        if notes:
            # CSV holds one table, so the attribution notes go to stderr; Markdown can show both.
            table = render(notes, ["job", "attribution", "resource_id", "why"], fmt)
            click.echo(f"\n{table}" if fmt == "markdown" else table, nl=False, err=fmt == "csv")
    failures = [failure for _, summary in summaries for failure in summary.failures]
    for failure in failures:
        click.echo(f"FAILED {failure}", err=True)
    if failures:
        sys.exit(1)


RUN_COLUMNS = [
    "job",
    "run_id",
    "status",
    "window_from",
    "window_to",
    "scopes",
    "rows_written",
    "rows_removed",
    "rows_rejected",
    "qpu_used",
    "api_calls",
    "throttled",
    "seconds",
    "failures",
]


def _run_record(job: str, summary: RunSummary) -> dict[str, Any]:
    """One collection run as a row; the cost-query budget (QPU, calls, throttling) only for costs."""
    costs = job == "costs"
    return {
        "job": job,
        "run_id": summary.run_id,
        "status": summary.status,
        "window_from": summary.window_from,
        "window_to": summary.window_to,
        "scopes": summary.scopes,
        "rows_written": summary.rows_written,
        "rows_removed": summary.rows_removed,
        "rows_rejected": summary.rows_rejected,
        "qpu_used": summary.qpu_used if costs else None,
        "api_calls": summary.api_calls if costs else None,
        "throttled": summary.throttled if costs else None,
        "seconds": round(summary.seconds, 1),
        "failures": len(summary.failures),
    }


def _attribution_notes(summary: RunSummary) -> list[dict[str, str]]:
    """The resources a cost run attributed by their offer or could not attribute, and why."""
    return [
        {"attribution": how, "resource_id": resource_id, "why": why}
        for how, pairs in (("attributed by offer", summary.by_offer), ("unattributed", summary.unattributed))
        for resource_id, why in pairs
    ]


def _run_line(job: str, summary: RunSummary) -> str:
    window = f" {summary.window_from}..{summary.window_to}," if summary.window_from else ""
    qpu = (
        f", {summary.qpu_used} QPU in {summary.api_calls} cost queries ({summary.throttled} throttled)"
        if job == "costs"
        else ""
    )
    return (
        f"{job} run {summary.run_id} {summary.status}:{window} {summary.scopes} scope(s), "
        f"{summary.rows_written} rows written, {summary.rows_removed} removed, "
        f"{summary.rows_rejected} rejected{qpu}, {summary.seconds:.1f} s"
    )


def _paragraph(fmt: str) -> str:
    """What separates a line of text from the table above it: Markdown needs a blank line."""
    return "\n" if fmt == "markdown" else ""


@cli.command()
@click.option("--from", "date_from", callback=_date, required=True, help="First day, inclusive (YYYY-MM-DD).")
@click.option("--to", "date_to", callback=_date, required=True, help="Last day, inclusive (YYYY-MM-DD).")
@click.option(
    "--by",
    default="project,model",
    show_default=True,
    help="Comma list of: project, model, meter, subscription, resource, day.",
)
@format_option
@click.option("--include-other", is_flag=True, help="Also show spend that is not AI spend.")
@pass_ctx
def spend(obj: _Context, date_from: date, date_to: date, by: str, fmt: str, include_other: bool) -> None:
    """Spend per currency, grouped by the given dimensions."""
    from sqlalchemy.orm import Session

    from collector.read.spend import DIMENSIONS
    from collector.read.spend import spend as query_spend

    dims = [d.strip() for d in by.split(",") if d.strip()]
    unknown = [d for d in dims if d not in DIMENSIONS]
    if unknown or not dims:
        raise click.BadParameter(f"unknown {unknown}; choose from {', '.join(DIMENSIONS)}", param_hint="--by")
    if date_from > date_to:
        raise click.BadParameter(f"--from {date_from} is after --to {date_to}")
    with Session(_store(obj)) as session:
        rows = query_spend(session, date_from, date_to, dims, include_other=include_other)
    records = [{**{d: plain(r.keys[d]) for d in dims}, "cost": str(r.cost), "currency": r.currency} for r in rows]
    click.echo(render(records, [*dims, "cost", "currency"], fmt, empty="(no spend in this period)"), nl=False)


@cli.command()
@format_option
@pass_ctx
def quota(obj: _Context, fmt: str) -> None:
    """VM-core usage against its limit per subscription, region, provider and VM family (latest snapshot)."""
    from sqlalchemy.orm import Session

    from collector.read.quota import latest_quota

    with Session(_store(obj)) as session:
        rows = latest_quota(session)
    records = [
        {
            "subscription_id": q.subscription_id,
            "location": q.location,
            "provider": q.provider,
            "name": q.name,
            "current": q.current,
            "limit": q.limit,
            "percent": None if q.percent is None else float(q.percent),
            "as_of": q.as_of.isoformat(),
        }
        for q in rows
    ]
    columns = ["subscription_id", "location", "provider", "name", "current", "limit", "percent", "as_of"]
    click.echo(
        render(records, columns, fmt, empty="(no quota snapshot yet: run `costwatch collect --only quota`)"), nl=False
    )


def _duration(_ctx: Any, _param: Any, value: str) -> Any:
    from datetime import timedelta

    units = {"m": "minutes", "h": "hours", "d": "days"}
    if len(value) < 2 or value[-1] not in units or not value[:-1].isdigit() or int(value[:-1]) == 0:
        raise click.BadParameter(f"{value!r}: use a number and m, h or d, such as 90m, 24h or 7d")
    return timedelta(**{units[value[-1]]: int(value[:-1])})


@cli.command()
@click.option("--window", default="24h", show_default=True, callback=_duration, help="How far back: 90m, 24h, 7d.")
@format_option
@pass_ctx
def deployments(obj: _Context, window: Any, fmt: str) -> None:
    """Each deployment's peak tokens and requests per minute against its limits (and a provisioned
    one's peak PTU utilization)."""
    from sqlalchemy.orm import Session

    from collector.read.headroom import deployment_headroom
    from collector.runs import utcnow

    with Session(_store(obj)) as session:
        rows = deployment_headroom(session, obj.settings, window, utcnow())
    records = [vars(r) for r in rows]
    columns = [
        "project",
        "deployment",
        "model",
        "kind",
        "status",
        "resource",
        "sku",
        "capacity",
        "peak_tpm",
        "tpm_limit",
        "peak_rpm",
        "rpm_limit",
        "minutes_near_tpm",
        "minutes_near_rpm",
        "peak_utilization_pct",
        "minutes_near_utilization",
        "instance_type",
        "instance_count",
        "traffic",
    ]
    click.echo(render(records, columns, fmt, empty="(no deployments yet: run `costwatch collect`)"), nl=False)


@cli.command()
@format_option
@pass_ctx
def status(obj: _Context, fmt: str) -> None:
    """When each job and scope last succeeded, and which data is stale."""
    from sqlalchemy.orm import Session

    from collector.read.freshness import freshness
    from collector.read.headroom import without_metrics
    from collector.sources.traffic import NO_METRICS

    with Session(_store(obj)) as session:
        lines = freshness(session, obj.settings)
        unmeasured = without_metrics(session)
    records = [
        {
            "job": f.job,
            "scope": (f.scope if fmt != "table" or len(f.scope) <= 80 else "..." + f.scope[-77:]) or "(all)",
            "last_success": f.last_success.isoformat(timespec="seconds") if f.last_success else "never",
            "age": _age(f.age),
            "state": "STALE" if f.stale else "fresh",
            "last_status": f.last_status or "",
            "rows": f.rows,
            "error": (f.last_error or "").splitlines()[0][:80] if f.last_error else "",
        }
        for f in lines
    ]
    columns = ["job", "scope", "last_success", "age", "state", "last_status", "rows", "error"]
    click.echo(render(records, columns, fmt, empty="(no job has run yet: run `costwatch collect`)"), nl=False)
    if unmeasured and fmt in ("table", "markdown"):
        click.echo(
            f"{_paragraph(fmt)}{len(unmeasured)} serverless deployment(s): {NO_METRICS} (see `costwatch deployments`)"
        )
    # Exit 1 when anything needs a look, so that cron, CI and probes can act on it.
    failing = [f for f in lines if f.stale or f.last_status == "failed"]
    if failing:
        named = ", ".join(sorted({f"{f.job} {'STALE' if f.stale else 'failed'}" for f in failing}))
        click.echo(f"{len(failing)} job(s) or scope(s) need attention: {named}", err=True)
        sys.exit(1)


def _age(age: Any) -> str:
    if age is None:
        return ""
    minutes = int(age.total_seconds() // 60)
    return f"{minutes // 1440}d{minutes % 1440 // 60}h" if minutes >= 1440 else f"{minutes // 60}h{minutes % 60:02d}m"


@cli.command()
@click.option("--since", callback=_date, help="First day (default: 30 days ago).")
@format_option
@pass_ctx
def events(obj: _Context, since: date | None, fmt: str) -> None:
    """Inventory changes: subscriptions to offers, status changes, deployments that came or went."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy.orm import Session

    from collector.read.events import inventory_events

    start = datetime.combine(since, datetime.min.time(), UTC) if since else datetime.now(UTC) - timedelta(days=30)
    with Session(_store(obj)) as session:
        rows = [event for event, _ in inventory_events(session, start)]
    records = [
        {
            "observed_at": e.observed_at.isoformat(timespec="seconds"),
            "resource_type": e.resource_type,
            "kind": e.kind,
            "field": e.field,
            "old": e.old_value or "",
            "new": e.new_value or "",
            "resource_id": e.resource_id,
        }
        for e in rows
    ]
    columns = ["observed_at", "resource_type", "kind", "field", "old", "new", "resource_id"]
    click.echo(render(records, columns, fmt, empty="(no inventory changes in this period)"), nl=False)


@cli.command()
@pass_ctx
def schedule(obj: _Context) -> None:
    """Keep everything fresh: run the collection jobs on their intervals until SIGTERM (several replicas
    may run; one leads)."""
    from collector.scheduler import serve

    serve(obj.settings, _store(obj))


@cli.group()
def alerts() -> None:
    """Evaluate, list, acknowledge and deliver alerts."""


@alerts.command("evaluate")
@click.option("--dry-run", is_flag=True, help="Show what would fire or resolve; change and send nothing.")
@click.option("--no-deliver", is_flag=True, help="Queue notifications without sending them now.")
@format_option
@pass_ctx
def alerts_evaluate(obj: _Context, dry_run: bool, no_deliver: bool, fmt: str) -> None:
    """Run every rule against the store; fire, remind and resolve alerts; send what is due."""
    from collector.alerts.channels import configured_channels
    from collector.alerts.engine import deliver, evaluate

    engine = _store(obj)
    result = evaluate(obj.settings, engine, dry_run=dry_run)
    prefix = "would " if dry_run else ""
    counts = (
        f"{len(result.firing)} new, {len(result.still_firing)} still firing, {len(result.resolved)} resolved, "
        f"{result.queued} notification(s) {'would be ' if dry_run else ''}queued"
    )
    sent = None if dry_run or no_deliver else deliver(obj.settings, engine, configured_channels(obj.settings.alerts))
    delivered = sent and f"delivered {sent.sent}, retrying {sent.retrying}, failed {sent.failed}"
    changes = (
        [{"action": "fire", "key": key} for key in result.firing]
        + [
            {"action": "remind" if key in result.reminded else "still firing", "key": key}
            for key in result.still_firing
        ]
        + [{"action": "resolve", "key": key} for key in result.resolved]
    )
    if fmt == "table":
        for change in changes:
            if change["action"] != "still firing":
                click.echo(f"{prefix}{change['action']}: {change['key']}")
        click.echo(counts)
        if delivered:
            click.echo(delivered)
    elif fmt == "json":
        summary = {
            "dry_run": dry_run,
            "changes": changes,
            "new": len(result.firing),
            "still_firing": len(result.still_firing),
            "resolved": len(result.resolved),
            "queued": result.queued,
            "rule_errors": result.errors,
            "delivery": sent and {"sent": sent.sent, "retrying": sent.retrying, "failed": sent.failed},
        }
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(
            render(
                changes, ["action", "key"], fmt, empty="(no alert would change)" if dry_run else "(no alert changed)"
            ),
            nl=False,
        )
        # The counts are not rows: Markdown shows them below the table, CSV keeps its one table on stdout.
        for line in filter(None, (counts, delivered)):
            click.echo(f"{_paragraph(fmt)}{line}", err=fmt == "csv")
    for error in result.errors:
        click.echo(f"RULE FAILED {error}", err=True)
    if result.errors:
        sys.exit(1)


@alerts.command("deliver")
@pass_ctx
def alerts_deliver(obj: _Context) -> None:
    """Send the notifications waiting in the outbox (with retries and backoff)."""
    from collector.alerts.channels import configured_channels
    from collector.alerts.engine import deliver

    sent = deliver(obj.settings, _store(obj), configured_channels(obj.settings.alerts))
    click.echo(f"delivered {sent.sent}, retrying {sent.retrying}, failed {sent.failed}")


@alerts.command("list")
@click.option("--state", type=click.Choice(["firing", "resolved", "all"]), default="firing", show_default=True)
@format_option
@pass_ctx
def alerts_list(obj: _Context, state: str, fmt: str) -> None:
    """Alerts with their rule, severity, subject, value and threshold."""
    from sqlalchemy.orm import Session

    from collector.read.alerts import alerts

    with Session(_store(obj)) as session:
        rows = alerts(session, state)
    records = [
        {
            "key": a.key,
            "rule": a.rule,
            "severity": a.severity,
            "state": a.state,
            "subject": a.subject,
            "value": a.value,
            "threshold": a.threshold,
            "message": a.message,
            "first_seen": a.first_seen.isoformat(timespec="seconds"),
            "last_seen": a.last_seen.isoformat(timespec="seconds"),
            "acknowledged": a.acknowledged_at is not None,
            "link": a.link,
        }
        for a in rows
    ]
    columns = ["severity", "state", "rule", "subject", "value", "threshold", "first_seen", "key"]
    click.echo(render(records, columns, fmt, empty=f"(no {state} alerts)"), nl=False)


@alerts.command("ack")
@click.argument("key")
@click.option(
    "--silence",
    callback=lambda c, p, v: _duration(c, p, v) if v else None,
    help="Also send nothing about it for this long: 90m, 24h, 7d.",
)
@click.option("--by", "who", default=lambda: os.environ.get("USER", "cli"), help="Who acknowledges.")
@pass_ctx
def alerts_ack(obj: _Context, key: str, silence: Any, who: str) -> None:
    """Acknowledge an alert: no more reminders until it resolves (and optionally silence it)."""
    from collector.alerts.engine import acknowledge

    try:
        alert = acknowledge(_store(obj), key, who, silence)
    except KeyError:
        raise click.ClickException(f"no alert with key {key!r}: see `costwatch alerts list --state all`") from None
    until = f", silenced until {alert.silenced_until:%Y-%m-%d %H:%M} UTC" if alert.silenced_until else ""
    click.echo(f"acknowledged {alert.key} ({alert.state}) by {who}{until}")


@alerts.command("test-channel")
@click.argument("name", type=click.Choice(["email", "teams", "apprise"]))
@pass_ctx
def alerts_test_channel(obj: _Context, name: str) -> None:
    """Send a sample alert through one channel and show the channel's answer."""
    from collector.alerts.channels import configured_channels
    from collector.alerts.channels.base import DeliveryError, Notification
    from collector.runs import utcnow

    channel = configured_channels(obj.settings.alerts).get(name)
    if channel is None:
        raise click.ClickException(f"the {name} channel is not configured: see [alerts.{name}] in docs/settings.md")
    sample = Notification(
        alert_key="test:costwatch",
        rule="test",
        severity="info",
        event="firing",
        subject="costwatch test message",
        message="If you can read this, costwatch can reach this channel.",
        value=None,
        threshold=None,
        since=utcnow(),
        link=obj.settings.alerts.dashboard_url,
    )
    try:
        answer = channel.send(sample)
    except DeliveryError as exc:
        raise click.ClickException(f"{name}: {exc}") from None
    click.echo(f"{name}: {answer}")


@cli.command()
@click.option("--port", default=8501, show_default=True, type=int)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; anything but localhost needs [dashboard] auth_enabled = true.",
)
@pass_ctx
def dashboard(obj: _Context, port: int, host: str) -> None:
    """Start the Streamlit dashboard on the configured database."""
    require("dashboard", "the dashboard", "streamlit", "pandas", "altair")
    settings = obj.settings  # fail here, with the key named, rather than inside Streamlit
    local = host in ("127.0.0.1", "localhost", "::1")
    if not local and not settings.dashboard.auth_enabled:
        raise click.ClickException(
            f"refusing to serve company spend on {host} without sign-in: set [dashboard] auth_enabled = true "
            "(and [auth] in .streamlit/secrets.toml, see docs/dashboard.md), or keep --host 127.0.0.1"
        )
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
        host,
        "--browser.gatherUsageStats",
        "false",
        "--server.headless",
        "true",
    ]
    access = "sign-in required" if settings.dashboard.auth_enabled else "bound to localhost: no sign-in is configured"
    click.echo(f"dashboard on http://{host}:{port} ({access})")
    sys.stdout.flush()
    # Become Streamlit rather than wait for it: a SIGTERM (a container stopping, a service manager)
    # then reaches the server itself instead of leaving it running behind a dead parent.
    os.execve(sys.executable, command, env)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(costwatch completion bash)" in ~/.bashrc."""
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # the Choice above names only the shells click supports
    click.echo(completer(cli, {}, "costwatch", "_COSTWATCH_COMPLETE").source())


from collector.reports.cli import report  # noqa: E402 - registered after the group it joins

cli.add_command(report)

from collector.healthcheck import healthcheck  # noqa: E402 - registered after the group it joins

cli.add_command(healthcheck)


def main() -> None:
    cli(prog_name="costwatch")


if __name__ == "__main__":
    main()
