"""Monthly finance reports against the emulator's ground truth, on SQLite and PostgreSQL: the CSV and
FOCUS files (totals, columns, types, byte-identical reruns), the workbook read back with openpyxl, the PDF
read back as text and rendered to images, the record of each file, the mailed attachment on a real SMTP
server, the CLI command and the dashboard page."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import openpyxl
import pdfplumber
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from collector.db.engine import make_engine
from collector.db.models import Alert, Base, GeneratedReport
from collector.read.monthly_report import (
    DetailRow,
    build_report,
    detail_rows,
    month_end,
    parse_month,
)
from collector.read.spend import spend
from collector.reports.csv_report import COLUMNS, render_csv
from collector.reports.files import file_state, generate, generated_reports
from collector.reports.focus import COLUMNS as FOCUS_COLUMNS
from collector.reports.focus import charge_category, render_focus
from collector.reports.text import plain
from collector.settings import Settings
from collector.units import UNKNOWN_TOKENS, meter_unit, per_million_tokens
from emulator import EmulatorServer
from tests.emulated import collect_all, emulator, settings_for
from tests.unit.test_alert_channels import Inbox, smtp_server  # noqa: F401 - the fixture, used by name

TODAY = date(2026, 11, 20)  # October is closed (final); the history starts on 1 August
OCTOBER = date(2026, 10, 1)
SEPTEMBER = date(2026, 9, 1)
AUGUST = date(2026, 8, 1)  # holds the tenant's one refund row
TEAM_TAG = "team"  # the emulator's projects carry a `team` tag: our cost-center tag here
BUDGETS = [
    {"scope": "project", "name": "proj-chatbot", "amount": "5000", "currency": "USD"},
    {"scope": "cost_center", "name": "research", "amount": "100", "currency": "USD"},
    {"scope": "project", "name": "proj-chatbot", "amount": "10", "currency": "EUR"},  # no EUR spend there
]


@contextmanager
def collected(
    db_url: str, engine: Engine, today: date = TODAY, **settings: Any
) -> Iterator[tuple[EmulatorServer, Settings]]:
    with emulator(today=today) as server:
        alerts = {"cost_center_tag": TEAM_TAG, "budgets": BUDGETS, **settings.pop("alerts", {})}
        config = settings_for(server, db_url, alerts=alerts, **settings)
        summary = collect_all(server, config, engine)
        assert summary.status == "succeeded", summary.failures
        yield server, config


def month_truth(server: EmulatorServer, month: date, by: list[str]) -> dict[tuple[Any, ...], Decimal]:
    out: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
    for row in server.tenant.truth(by, month, month_end(month)):
        day = row.get("day")
        key = tuple(day.isoformat() if d == "day" and isinstance(day, date) else row[d] for d in by)
        out[(*key, row["currency"])] += row["cost"]
    return dict(out)


def quantity_truth(server: EmulatorServer, month: date) -> dict[tuple[str, ...], Decimal]:
    """Summed quantities per (subscription, project, model, meter, currency) from the emulator's records."""
    out: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
    for sub in server.tenant.subscriptions:
        for record in server.tenant.cost_records(sub.subscription_id, month, month_end(month)):
            source = server.tenant.cost_source(record.resource_id)
            assert source is not None
            if source.spend_kind == "other":
                continue
            key = (record.subscription_id, source.project or "", source.model or "", record.meter, record.currency)
            out[key] += record.quantity
    return dict(out)


def spend_totals(engine: Engine, month: date) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    with Session(engine) as session:
        for row in spend(session, month, month_end(month), ["subscription"]):
            totals[row.currency] += row.cost
    return dict(totals)


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def project_tags(server: EmulatorServer) -> dict[tuple[str, str], str]:
    return {(p.subscription_id.lower(), p.name): p.tags.get(TEAM_TAG, "") for p in server.tenant.projects}


# -- CSV ------------------------------------------------------------------------------------------


def test_csv_matches_spend_and_the_ground_truth(db_url: str, engine: Engine, tmp_path: Path) -> None:
    with collected(db_url, engine) as (server, settings):
        made = generate(engine, settings, OCTOBER, "csv", tmp_path / "october.csv", today=TODAY)
        data = made.path.read_bytes()
        lines = data.decode().splitlines()
        assert lines[0] == ",".join(COLUMNS)
        rows = read_csv(data)
        assert rows, "October has AI spend"

        # sorted by subscription, project, model, meter, currency, one row per such key
        keys = [(r["subscription_id"], r["project"], r["model"], r["meter"], r["currency"]) for r in rows]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        for row in rows:
            assert row["month"] == "2026-10"
            assert row["data_status"] == "final"
            assert re.fullmatch(r"-?\d+\.\d{6,}", row["cost"]), row["cost"]  # plain, >= 6 decimals, no exponent
            assert re.fullmatch(r"-?\d+(\.\d+)?", row["quantity"]), row["quantity"]

        # the totals are `costwatch spend`'s for the month, and the emulator's, exactly (so to the cent)
        csv_totals: dict[str, Decimal] = defaultdict(Decimal)
        for row in rows:
            csv_totals[row["currency"]] += Decimal(row["cost"])
        assert dict(csv_totals) == spend_totals(engine, OCTOBER)
        assert dict(csv_totals) == {k[0]: v for k, v in month_truth(server, OCTOBER, []).items()}
        assert set(csv_totals) == {"USD", "EUR"}

        # every row is the emulator's figure for its key; quantities are the stored ones, unscaled
        truth = month_truth(server, OCTOBER, ["subscription", "project", "model", "meter"])
        assert {k: Decimal(r["cost"]) for k, r in zip(keys, rows, strict=True)} == truth
        quantities = quantity_truth(server, OCTOBER)
        assert {k: Decimal(r["quantity"]) for k, r in zip(keys, rows, strict=True)} == quantities

        # units named for what the store holds; cost centers from the project's tag; unattributed kept
        tags = project_tags(server)
        units = server.tenant.meter_units  # the plans' price sheet, stated in [costs] units
        for row in rows:
            if row["meter"].endswith("tokens"):
                assert row["unit"] == units[row["meter"]] in ("1K tokens", "1M tokens")
            if row["model"] == "(managed compute)" or "hosting" in row["meter"]:
                assert row["unit"] == "hours"
            if row["project"] == "(unattributed)":
                assert row["cost_center"] == ""
            else:
                assert row["cost_center"] == tags[(row["subscription_id"], row["project"])] != ""
        assert "(unattributed)" in {r["project"] for r in rows}
        assert {"1K tokens", "1M tokens", "hours"} <= {r["unit"] for r in rows}


def test_csv_and_focus_are_byte_identical_across_runs_and_databases(
    database_urls: dict[str, str], tmp_path: Path
) -> None:
    files: dict[str, list[bytes]] = defaultdict(list)
    with emulator(today=TODAY) as server:
        for backend, url in database_urls.items():
            engine = make_engine(url)
            with engine.begin() as connection:
                for table in reversed(Base.metadata.sorted_tables):
                    connection.execute(table.delete())
            settings = settings_for(server, url, alerts={"cost_center_tag": TEAM_TAG})
            collect_all(server, settings, engine)
            for run in range(2):
                for fmt in ("csv", "focus"):
                    made = generate(engine, settings, OCTOBER, fmt, tmp_path / f"{backend}-{run}.{fmt}", today=TODAY)
                    files[fmt].append(made.path.read_bytes())
            engine.dispose()
    for fmt, contents in files.items():
        assert len(contents) == 4
        assert all(c == contents[0] for c in contents), f"{fmt} differs between runs or databases"


def test_an_open_month_is_estimated_in_every_row(db_url: str, engine: Engine) -> None:
    # October is not closed on 3 November
    with collected(db_url, engine, today=date(2026, 11, 3)) as (_server, settings), Session(engine) as session:
        report = build_report(session, settings, OCTOBER, today=date(2026, 11, 3))
        focus = read_csv(render_focus(report, detail_rows(session, settings, OCTOBER)))
    assert report.data_status == "estimated"
    rows = read_csv(render_csv(report))
    assert rows and {r["data_status"] for r in rows} == {"estimated"}
    assert {r["x_DataStatus"] for r in focus} == {"estimated"}
    assert "ESTIMATED" in report.status_sentence() and "until 5 Nov 2026" in report.status_sentence()
    # the same store judged after the 5th: the month is final only once the collector re-pulled it
    with Session(engine) as session:
        later = build_report(session, settings, OCTOBER, today=date(2026, 11, 10))
    assert later.data_status == "estimated"  # its rows are still the estimates collected on the 3rd
    assert "still holds estimates" in later.status_sentence()


# -- FOCUS ----------------------------------------------------------------------------------------

ALLOWED = {
    "ChargeCategory": {"Usage", "Purchase", "Tax", "Credit", "Adjustment"},
    "ChargeClass": {"", "Correction"},
    "ChargeFrequency": {"One-Time", "Recurring", "Usage-Based"},
    "ServiceCategory": {"AI and Machine Learning"},
    "ServiceSubcategory": {"Generative AI", "Machine Learning"},
    "SubAccountType": {"Subscription"},
    "x_DataStatus": {"final", "estimated"},
    "x_TokenType": {"", "input", "output"},
}
DECIMAL = re.compile(r"-?\d+(\.\d+)?")
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def validate_focus(rows: list[dict[str, str]], header: list[str]) -> None:
    """Column names, FOCUS data types, nullability and allowed values."""
    assert header == [c.name for c in FOCUS_COLUMNS]
    for name in header:
        assert re.fullmatch(r"[A-Z][A-Za-z]+", name) or re.fullmatch(r"x_[A-Z][A-Za-z]+", name), name
    for row in rows:
        for column in FOCUS_COLUMNS:
            value = row[column.name]
            if value == "":
                assert column.nullable, f"{column.name} is null"
                continue
            if column.type == "Decimal":
                assert DECIMAL.fullmatch(value), (column.name, value)
            elif column.type == "DateTime":
                assert DATETIME.fullmatch(value), (column.name, value)
                datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
            elif column.type == "JSON":
                tags = json.loads(value)
                assert isinstance(tags, dict) and all(isinstance(v, str | int | float | bool) for v in tags.values())
            if column.name in ALLOWED:
                assert value in ALLOWED[column.name], (column.name, value)
        assert row["BillingCurrency"] in ("USD", "EUR")
        assert row["ProviderName"] == row["InvoiceIssuerName"] == "Microsoft"
        start = datetime.strptime(row["ChargePeriodStart"], "%Y-%m-%dT%H:%M:%SZ")
        assert datetime.strptime(row["ChargePeriodEnd"], "%Y-%m-%dT%H:%M:%SZ") - start == timedelta(days=1)
        assert row["BillingPeriodStart"] <= row["ChargePeriodStart"] < row["BillingPeriodEnd"]
        if row["ChargeCategory"] == "Usage":
            assert row["PricingQuantity"] != "" and row["ConsumedQuantity"] == row["PricingQuantity"]
        else:
            assert row["ConsumedQuantity"] == ""
        assert row["EffectiveCost"] == row["BilledCost"]
        if row["x_TokenType"]:  # every token meter of the emulator's plans has its unit in [costs] units
            assert row["ConsumedUnit"] in ("1000 Tokens", "1000000 Tokens")


def test_focus_file_columns_types_and_totals(db_url: str, engine: Engine, tmp_path: Path) -> None:
    with collected(db_url, engine) as (server, settings):
        made = generate(engine, settings, OCTOBER, "focus", tmp_path, today=TODAY)
        assert made.path.name == "costwatch-focus-2026-10-final.csv"
        text = made.path.read_text(encoding="utf-8")
        reader = csv.DictReader(io.StringIO(text))
        rows = list(reader)
        validate_focus(rows, list(reader.fieldnames or []))
        assert {r["BillingPeriodStart"] for r in rows} == {"2026-10-01T00:00:00Z"}
        assert {r["BillingPeriodEnd"] for r in rows} == {"2026-11-01T00:00:00Z"}

        # one row per cost row and day: the per-day, per-resource sums are the emulator's
        by_day_resource: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        for row in rows:
            by_day_resource[(row["ChargePeriodStart"][:10], row["ResourceId"], row["BillingCurrency"])] += Decimal(
                row["BilledCost"]
            )
        assert dict(by_day_resource) == month_truth(server, OCTOBER, ["day", "resource"])
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for row in rows:
            totals[row["BillingCurrency"]] += Decimal(row["BilledCost"])
        assert dict(totals) == spend_totals(engine, OCTOBER)

        # costwatch's own columns agree with the CSV report of the same month
        csv_rows = read_csv(generate(engine, settings, OCTOBER, "csv", tmp_path, today=TODAY).path.read_bytes())
        assert {r["x_Project"] for r in rows} == {r["project"] for r in csv_rows}
        assert {r["x_Model"] for r in rows} == {r["model"] for r in csv_rows}
        assert {r["x_CostCenter"] for r in rows} == {r["cost_center"] for r in csv_rows}
        assert {"input", "output"} <= {r["x_TokenType"] for r in rows}
        managed = [r for r in rows if r["x_Model"] == "(managed compute)"]
        assert managed and all(r["ServiceName"] == "Azure Machine Learning" and r["RegionId"] for r in managed)
        assert all(r["ConsumedUnit"] == "Hours" for r in managed)
        market = [r for r in rows if r["ResourceType"] == "Microsoft.SaaS/resources"]
        assert market and all(r["PublisherName"] and r["Tags"].startswith("{") for r in market)


def test_focus_keeps_the_refund_as_negative_usage(db_url: str, engine: Engine) -> None:
    with collected(db_url, engine) as (_server, settings), Session(engine) as session:
        report = build_report(session, settings, AUGUST, today=TODAY)
        reader = csv.DictReader(io.StringIO(render_focus(report, detail_rows(session, settings, AUGUST)).decode()))
        rows = list(reader)
    validate_focus(rows, list(reader.fieldnames or []))
    [refund] = [r for r in rows if r["x_ChargeType"] == "Refund"]
    assert refund["ChargeCategory"] == "Usage" and refund["ChargeClass"] == ""  # FOCUS: usage incl. refunds
    assert Decimal(refund["BilledCost"]) < 0 and Decimal(refund["ConsumedQuantity"]) < 0


def test_charge_categories_and_number_text() -> None:
    def row(charge_type: str, quantity: Decimal | None) -> DetailRow:
        return DetailRow(
            date(2026, 10, 1),
            "s",
            "",
            "/r",
            "r",
            "",
            "",
            "",
            "paygo-inference-input-tokens",
            "m",
            "SaaS",
            "",
            charge_type,
            "ActualCost",
            "USD",
            Decimal("-1"),
            quantity,
            False,
            "marketplace",
            "p",
            "m",
            "",
            "",
            None,
            "1K tokens",
        )

    assert charge_category(row("Usage", Decimal(1))) == "Usage"
    assert charge_category(row("Refund", Decimal(-1))) == "Usage"
    assert charge_category(row("Refund", None)) == "Adjustment"  # Usage needs a PricingQuantity
    assert charge_category(row("Purchase", Decimal(1))) == "Purchase"
    assert charge_category(row("RoundingAdjustment", None)) == "Adjustment"
    assert plain(Decimal("1E+2"), 6) == "100.000000"
    assert plain(Decimal("0.1234567890"), 6) == "0.123456789"
    assert plain(Decimal("-0.00"), 6) == "0.000000"
    assert plain(Decimal("12.50"), 0) == "12.5" and plain(None) == ""
    # A composite Marketplace meter (issue 19.7) states no unit: unknown unless [costs] units gives it.
    composite = "meta-llama-3-8b-instruct-plan - paygo-inference-output-tokens"
    assert meter_unit(composite) == UNKNOWN_TOKENS
    assert meter_unit(composite, "SaaS", {composite.upper(): "1M tokens"}) == "1M tokens"
    assert meter_unit("gpt-4o Inp glbl 1M Tokens") == "1M tokens"
    assert meter_unit("Llama 3 input per 1K tokens") == "1K tokens"
    assert meter_unit("paygo-finetuned-model-inference-hosting") == "hours"
    assert meter_unit("NC24ads A100 v4", "Virtual Machines") == "hours"
    assert meter_unit("Hot LRS Data Stored", "Storage") == ""
    assert per_million_tokens(Decimal("3"), Decimal("1000000")) == Decimal("3")  # 1M tokens for 3
    assert per_million_tokens(Decimal("3"), Decimal("0")) is None
    assert parse_month("2026-02") == date(2026, 2, 1)
    for bad in ("2026-13", "2026-1", "October"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            parse_month(bad)


# -- the report's figures: previous month, budgets, alerts ----------------------------------------


def test_previous_month_budgets_and_alert_summary(db_url: str, engine: Engine) -> None:
    inside = datetime(2026, 10, 12, 8, 0, tzinfo=UTC)
    before = datetime(2026, 9, 28, 8, 0, tzinfo=UTC)
    with collected(db_url, engine) as (server, settings):
        with Session(engine) as session, session.begin():
            for key, severity, first_seen, resolved_at in (
                ("budget:a", "warning", inside, None),
                ("budget:b", "critical", inside, inside + timedelta(days=2)),
                ("quota:c", "warning", before, inside),  # fired in September, resolved in October
                ("quota:d", "warning", before, before + timedelta(hours=1)),  # all in September
            ):
                session.add(
                    Alert(
                        key=key,
                        rule=key.split(":")[0],
                        severity=severity,
                        state="resolved" if resolved_at else "firing",
                        subject=key,
                        message="m",
                        link="l",
                        details={},
                        first_seen=first_seen,
                        last_seen=resolved_at or first_seen,
                        resolved_at=resolved_at,
                        episodes=1,
                    )
                )
        with Session(engine) as session:
            report = build_report(session, settings, OCTOBER, today=TODAY)

        counts = {(a.rule, a.severity): (a.fired, a.resolved) for a in report.alerts}
        assert counts == {("budget", "critical"): (1, 1), ("budget", "warning"): (1, 0), ("quota", "warning"): (0, 1)}

        previous = {t.currency: t.previous_cost for t in report.totals()}
        assert previous == {k[0]: v for k, v in month_truth(server, SEPTEMBER, []).items()}
        september = month_truth(server, SEPTEMBER, ["project"])
        for group in report.by("project"):
            assert group.previous_cost == september.get((group.name, group.currency))
            if group.previous_cost:
                assert group.change_pct == (group.cost - group.previous_cost) * 100 / group.previous_cost

        october = month_truth(server, OCTOBER, ["project"])
        research = sum(
            (line.cost for line in report.lines if line.cost_center == "research" and line.currency == "USD"),
            Decimal(0),
        )
        budgets = {(b.scope, b.name, b.currency): b for b in report.budgets}
        assert budgets[("project", "proj-chatbot", "USD")].actual == october[("proj-chatbot", "USD")]
        assert budgets[("project", "proj-chatbot", "EUR")].actual == 0
        assert budgets[("cost_center", "research", "USD")].actual == research > 100
        assert budgets[("cost_center", "research", "USD")].over

        # the blended price per million tokens is the token meters' cost over their tokens
        scale = {"1K tokens": 1000, "1M tokens": 1_000_000}
        for model in report.by("model"):
            token_lines = [
                line
                for line in report.lines
                if line.model == model.name and line.currency == model.currency and line.unit in scale
            ]
            if token_lines:
                count = sum((line.quantity * scale[line.unit] for line in token_lines if line.quantity), Decimal(0))
                cost = sum((line.cost for line in token_lines), Decimal(0))
                assert model.cost_per_million_tokens == cost * 1_000_000 / count
            else:
                assert model.cost_per_million_tokens is None


def test_a_month_without_data_gives_empty_files(db_url: str, engine: Engine, tmp_path: Path) -> None:
    with collected(db_url, engine) as (_server, settings):
        with Session(engine) as session:
            report = build_report(session, settings, date(2026, 3, 1), today=TODAY)
        assert report.lines == () and report.data_status == "final"
        assert render_csv(report).decode() == ",".join(COLUMNS) + "\n"
        made = generate(engine, settings, date(2026, 3, 1), "pdf", tmp_path, today=TODAY)
        with pdfplumber.open(made.path) as pdf:
            assert 2 <= len(pdf.pages) <= 4
            assert "no AI spend" in pdf.pages[0].extract_text()


# -- Excel ----------------------------------------------------------------------------------------


def test_workbook_reads_back_with_formats_filters_and_charts(db_url: str, engine: Engine, tmp_path: Path) -> None:
    with collected(db_url, engine) as (_server, settings):
        made = generate(engine, settings, OCTOBER, "xlsx", tmp_path, today=TODAY)
        totals = spend_totals(engine, OCTOBER)
    assert made.path.name == "costwatch-2026-10-final.xlsx"
    wb = openpyxl.load_workbook(made.path)
    assert {"Summary", "By project", "By model", "By meter", "By day", "By cost center", "Detail"} <= set(wb.sheetnames)
    summary = wb["Summary"]
    assert "October 2026" in summary["A1"].value
    assert summary["A2"].value.startswith("FINAL") and summary["B4"].value == "final"

    for name in ("By project", "By model", "By meter", "By cost center", "Detail"):
        ws = wb[name]
        assert ws.freeze_panes == "A2", name
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), name
        header = [c.value for c in ws[1]]
        cost_col = header.index("cost") + 1
        currency_col = header.index("currency") + 1
        sums: dict[str, float] = defaultdict(float)
        for row in range(2, ws.max_row + 1):
            cell = ws.cell(row=row, column=cost_col)
            currency = ws.cell(row=row, column=currency_col).value
            assert isinstance(cell.value, int | float), (name, row, cell.value)
            assert f'"{currency}"' in cell.number_format  # a real number shown with its currency
            sums[currency] += cell.value
        assert {c: round(v, 2) for c, v in sums.items()} == {c: float(round(v, 2)) for c, v in totals.items()}, name

    day = wb["By day"]
    assert [c.value for c in day[1]] == ["day", "EUR", "USD", "estimated"]
    assert day.max_row - 1 == 31
    assert isinstance(day["A2"].value, datetime) and day["A2"].number_format == "yyyy-mm-dd"
    for col, currency in ((2, "EUR"), (3, "USD")):
        total = sum(day.cell(row=r, column=col).value or 0 for r in range(2, day.max_row + 1))
        assert round(total, 2) == float(round(totals[currency], 2))
    assert day._charts, "the daily spend chart"
    assert summary._charts, "the spend-by-project charts"


# -- PDF ------------------------------------------------------------------------------------------


def test_pdf_has_text_charts_and_renders(db_url: str, engine: Engine, tmp_path: Path) -> None:
    with collected(db_url, engine) as (_server, settings):
        made = generate(engine, settings, OCTOBER, "pdf", tmp_path, today=TODAY)
        with Session(engine) as session:
            report = build_report(session, settings, OCTOBER, today=TODAY)
    with pdfplumber.open(made.path) as pdf:
        assert 2 <= len(pdf.pages) <= 4
        first = pdf.pages[0].extract_text()
        assert "AI spend report: October 2026" in first
        assert "FINAL" in first  # final / estimated is said on page 1
        for total in report.totals():
            assert f"{total.cost:,.2f} {total.currency}" in first
        assert "proj-chatbot" in first and "OVER" in first  # budget vs actual
        text = "\n".join(page.extract_text() for page in pdf.pages)
        assert "Meta-Llama-3-70B-Instruct" in text and "(managed compute)" in text
        assert sum(len(page.images) for page in pdf.pages) >= 1  # the charts are embedded images
        for page in pdf.pages:  # every page renders (pdfium) and is not blank
            image = page.to_image(resolution=40).original.convert("L")
            dark = sum(count for level, count in enumerate(image.histogram()) if level < 200)
            assert dark > 0.005 * image.width * image.height


# -- stored, recorded, mailed, CLI, dashboard -----------------------------------------------------


def test_each_generated_file_is_recorded_with_its_checksum(db_url: str, engine: Engine, tmp_path: Path) -> None:
    with collected(db_url, engine) as (_server, settings):
        first = generate(engine, settings, OCTOBER, "csv", f"{tmp_path}/out/", today=TODAY)
        again = generate(engine, settings, OCTOBER, "csv", f"{tmp_path}/out/", today=TODAY)
        pdf = generate(engine, settings, SEPTEMBER, "pdf", tmp_path / "sept.pdf", today=TODAY)
        with Session(engine) as session:
            records = generated_reports(session)
            october = generated_reports(session, "2026-10")
    assert first.path == again.path == tmp_path / "out" / "costwatch-2026-10-final.csv"
    assert first.sha256 == again.sha256 == hashlib.sha256(first.path.read_bytes()).hexdigest()
    assert [r.id for r in records] == [pdf.record_id, again.record_id, first.record_id]
    assert [r.id for r in october] == [again.record_id, first.record_id]
    record = october[0]
    assert (record.month, record.format, record.data_status) == ("2026-10", "csv", "final")
    assert record.path == str(first.path) and record.size == first.path.stat().st_size
    assert record.created_at is not None
    assert file_state(record) == "ok"
    first.path.write_bytes(b"edited")
    assert file_state(record) == "changed"
    first.path.unlink()
    assert file_state(record) == "missing"


def _report_cli(settings: Settings) -> click.Group:
    """The `costwatch` group as collector/cli.py builds it, with `report` added and settings given."""
    from collector.cli import _Context
    from collector.reports.cli import report

    @click.group()
    @click.pass_context
    def group(ctx: click.Context) -> None:
        ctx.obj = _Context(None)
        ctx.obj._settings = settings

    group.add_command(report)
    return group


def test_cli_writes_the_report_and_mails_it(
    db_url: str, engine: Engine, tmp_path: Path, smtp_server: Callable[..., Inbox]
) -> None:
    inbox = smtp_server()
    email = {
        "smtp_host": "127.0.0.1",
        "smtp_port": inbox.port,
        "sender": "costwatch@example.com",
        "recipients": ["finance@example.com", "controller@example.com"],
        "starttls": False,
        "timeout_seconds": 5,
    }
    with collected(db_url, engine, alerts={"email": email}) as (_server, settings):
        group = _report_cli(settings)
        out = f"{tmp_path}/reports/"
        result = CliRunner().invoke(
            group, ["report", "--month", "2026-10", "--format", "xlsx", "--out", out, "--email"], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        path = tmp_path / "reports" / "costwatch-2026-10-final.xlsx"
        assert str(path) in result.output and "mailed: 250" in result.output
        [got] = inbox.received
        assert got.rcpt_tos == email["recipients"]
        assert got.message["Subject"] == "[costwatch] AI spend report 2026-10 (final)"
        body = got.message.get_body(("plain",))
        assert body is not None and "FINAL" in body.get_content() and "USD" in body.get_content()
        [attachment] = list(got.message.iter_attachments())
        assert attachment.get_filename() == path.name
        assert attachment.get_content_type() == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        assert attachment.get_content() == path.read_bytes()

        result = CliRunner().invoke(
            group,
            [
                "report",
                "--month",
                "2026-10",
                "--format",
                "focus",
                "--out",
                str(tmp_path / "f.csv"),
                "--email",
                "--to",
                "auditor@example.com",
            ],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        assert inbox.received[1].rcpt_tos == ["auditor@example.com"]
        [focus] = list(inbox.received[1].message.iter_attachments())
        assert focus.get_filename() == "f.csv" and focus.get_content_type() == "text/csv"
        with Session(engine) as session:
            assert [r.format for r in session.scalars(select(GeneratedReport).order_by(GeneratedReport.id))] == [
                "xlsx",
                "focus",
            ]

        for args, message in (
            (["--month", "2026-13"], "YYYY-MM"),
            (["--month", "2026-10", "--format", "doc"], "'doc' is not one of"),
            (["--month", "2026-10", "--to", "a@example.com"], "--to only makes sense with --email"),
        ):
            result = CliRunner().invoke(group, ["report", *args])
            assert result.exit_code == 2 and message in result.output, result.output


def test_cli_says_when_mail_is_not_configured(db_url: str, engine: Engine, tmp_path: Path) -> None:
    with collected(db_url, engine) as (_server, settings):
        result = CliRunner().invoke(
            _report_cli(settings), ["report", "--month", "2026-10", "--out", str(tmp_path / "r.csv"), "--email"]
        )
    assert result.exit_code == 1
    assert "written but not mailed" in result.output and "smtp_host" in result.output
    assert (tmp_path / "r.csv").is_file()


def _reports_page() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from dashboard.views import reports

    reports.render()


def test_dashboard_lists_reports_and_generates_one(
    database_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from streamlit.testing.v1 import AppTest

    url = database_urls["sqlite"]  # the dashboard's cached engine is this worker's SQLite store
    for key in list(os.environ):
        if key.startswith("COSTWATCH_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("COSTWATCH_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # the default reports/ folder
    engine = make_engine(url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    with collected(url, engine) as (_server, settings):
        made = generate(engine, settings, OCTOBER, "csv", today=TODAY)
    assert made.path == tmp_path / "reports" / "costwatch-2026-10-final.csv"

    app = AppTest.from_function(_reports_page, default_timeout=30).run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Reports"
    assert len(app.dataframe) == 1
    listed = app.dataframe[0].value
    assert list(listed["month"]) == ["2026-10"] and list(listed["file"]) == ["ok"]
    assert len(app.get("download_button")) == 1

    app.text_input[0].set_value("2026-09")
    app.selectbox[0].set_value("pdf")
    app.button[0].click().run()
    assert not app.exception, app.exception
    assert any("costwatch-2026-09-" in s.value for s in app.success)
    assert any((tmp_path / "reports").glob("costwatch-2026-09-*.pdf"))
    assert len(app.get("download_button")) == 2
    engine.dispose()


def test_the_monthly_schedule_writes_and_mails_the_preliminary_then_the_final_report(
    db_url: str, engine: Engine, tmp_path: Path, smtp_server: Callable[..., Inbox]
) -> None:
    from collector.reports.schedule import Due, due_report, generate_due

    assert due_report(date(2027, 1, 1), 5) == Due(date(2026, 12, 1), "estimated")
    assert due_report(date(2026, 11, 6), 5) == Due(date(2026, 10, 1), "final")
    assert due_report(date(2026, 11, 4), 3) == Due(date(2026, 10, 1), "final")
    assert [due_report(date(2026, 11, d), 5) for d in (2, 5, 7, 30)] == [None] * 4
    inbox = smtp_server()
    email = {
        "smtp_host": "127.0.0.1",
        "smtp_port": inbox.port,
        "sender": "costwatch@example.com",
        "recipients": ["finance@example.com"],
        "starttls": False,
        "timeout_seconds": 5,
    }
    with collected(db_url, engine, alerts={"email": email}) as (_server, settings):
        assert generate_due(engine, settings, date(2026, 11, 2), folder=tmp_path) == []
        preliminary = generate_due(engine, settings, date(2026, 11, 1), folder=tmp_path)
        final = generate_due(engine, settings, date(2026, 11, 6), folder=tmp_path)
    assert [(g.format, g.report.label, g.report.data_status) for g in preliminary] == [
        (fmt, "2026-10", "estimated") for fmt in ("csv", "xlsx", "pdf", "focus")
    ]
    assert {g.report.data_status for g in final} == {"final"}
    assert len({g.path for g in preliminary + final}) == 8  # the final files do not overwrite the preliminary ones
    assert [m.message["Subject"] for m in inbox.received] == [
        "[costwatch] AI spend report 2026-10 (estimated)",
        "[costwatch] AI spend report 2026-10 (final)",
    ]
    names = [a.get_filename() for a in inbox.received[1].message.iter_attachments()]
    assert names == [g.path.name for g in final]
