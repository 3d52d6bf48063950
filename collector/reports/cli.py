"""`costwatch report`: the month's report in one format, stored, recorded and optionally mailed.

Registered on the `costwatch` group by collector/cli.py (`cli.add_command(report)`); the group's
context object gives the settings and the database URL.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

import click

from collector.extras import require
from collector.settings import Settings


class _SettingsSource(Protocol):
    """What the `costwatch` group puts in the click context (collector.cli._Context)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def database_url(self) -> str: ...


def _month(_ctx: Any, _param: Any, value: str) -> date:
    from collector.read.monthly_report import parse_month

    try:
        return parse_month(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _addresses(_ctx: Any, _param: Any, value: str | None) -> list[str] | None:
    if value is None:
        return None
    addresses = [a.strip() for a in value.split(",") if a.strip()]
    if not addresses or any("@" not in a for a in addresses):
        raise click.BadParameter(f"{value!r}: give a comma list of email addresses")
    return addresses


@click.command("report")
@click.option("--month", required=True, callback=_month, help="The month, YYYY-MM.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx", "pdf", "focus", "focus-parquet"]),
    default="csv",
    show_default=True,
    help="csv (finance rows), xlsx (workbook with charts), pdf (2-4 pages), focus (FOCUS 1.2 cost file, CSV), "
    "focus-parquet (the same as Parquet, for a FinOps hub).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=True),
    help="File to write, or a folder for the default name (default: reports/costwatch-MONTH-STATUS.EXT).",
)
@click.option("--email", is_flag=True, help="Mail the file to [alerts.email] recipients (or --to).")
@click.option("--to", callback=_addresses, help="Comma list of recipients instead of [alerts.email] recipients.")
@click.option(
    "--upload",
    metavar="CONTAINER_URL",
    help="With --format focus-parquet: also put the file into this blob container (a FinOps hub's "
    "'ingestion' container) at Costs/YYYY/MM/costwatch/, replacing the month's earlier upload.",
)
@click.pass_obj
def report(
    obj: _SettingsSource, month: date, fmt: str, out: str | None, email: bool, to: list[str] | None, upload: str | None
) -> None:
    """Write the monthly AI spend report of MONTH: totals per project, cost center, model and meter, per
    currency, with quantities, the previous month, budgets and alerts; final or estimated."""
    from collector.alerts.channels.base import DeliveryError
    from collector.db.engine import SchemaOutOfDate, make_engine, require_current_schema
    from collector.reports.files import generate
    from collector.reports.mail import ReportMailer

    if to and not email:
        raise click.BadParameter("--to only makes sense with --email", param_hint="--to")
    if upload and fmt != "focus-parquet":
        # A FinOps hub ingests Parquet only: the CSV in its container would never be read.
        raise click.BadParameter(
            "a FinOps hub ingests Parquet: use --format focus-parquet --upload CONTAINER_URL", param_hint="--upload"
        )
    settings = obj.settings
    engine = make_engine(obj.database_url)
    try:
        require_current_schema(engine, obj.database_url)
        made = generate(engine, settings, month, fmt, out)
    except SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write the report: {exc}") from None
    finally:
        engine.dispose()
    r = made.report
    click.echo(f"{fmt} report {r.label} ({r.data_status}): {made.path} ({made.size} bytes, sha256 {made.sha256[:16]}…)")
    for total in r.totals():
        click.echo(f"  total {total.currency}: {total.cost:.2f}")
    if not r.lines:
        click.echo("  no AI spend recorded for this month", err=True)
    if upload:
        require("reports", "the upload to a FinOps hub", "azure.storage.blob")
        from collector.reports.upload import UploadError, upload_focus

        try:
            sent = upload_focus(upload, made.path, month, settings)
        except UploadError as exc:
            raise click.ClickException(f"the report was written but not uploaded: {exc}") from None
        click.echo(f"{'already in the hub, unchanged' if sent.unchanged else 'uploaded'}: {sent.url}")
        for old in sent.removed:
            click.echo(f"  replaced {old}")
    if email:
        try:
            answer = ReportMailer(settings.alerts.email, to).send_report(r, [(fmt, made.path)])
        except DeliveryError as exc:
            raise click.ClickException(f"the report was written but not mailed: {exc}") from None
        click.echo(f"mailed: {answer}")
