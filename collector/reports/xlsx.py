"""The Excel workbook: a summary sheet (totals, budget vs actual, alerts, charts) and sheets by project,
cost center, model, meter, day and the full detail, with currency number formats, frozen headers and
filters. Amounts are never added across currencies: every table has a currency column (or one column per
currency), and each chart shows one currency."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from collector.read.monthly_report import FINAL, GroupTotal, MonthlyReport

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
TITLE_FONT = Font(bold=True, size=14)
FINAL_FILL = PatternFill("solid", fgColor="C6EFCE")
ESTIMATED_FILL = PatternFill("solid", fgColor="FFEB9C")
PERCENT = "0.0%"
CHANGE = "+0.0%;-0.0%;0.0%"
QUANTITY = "#,##0.000"


def money_format(currency: str, places: int = 2) -> str:
    decimals = "." + "0" * places if places else ""
    return f'#,##0{decimals} "{currency}";-#,##0{decimals} "{currency}"'


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _fraction(value: Decimal | None) -> float | None:
    return None if value is None else float(value / 100)


class _Sheet:
    """A sheet holding one table: header on row `top`, frozen, filtered, columns sized."""

    def __init__(self, ws: Worksheet, headers: Sequence[str], top: int = 1, widths: Sequence[int] = ()) -> None:
        self.ws = ws
        self.top = top
        self.row = top
        self.headers = headers
        for col, name in enumerate(headers, start=1):
            cell = ws.cell(row=top, column=col, value=name)
            cell.font = HEADER_FONT
            cell.fill = HEADER_FILL
            cell.alignment = Alignment(horizontal="center")
            ws.column_dimensions[get_column_letter(col)].width = widths[col - 1] if col <= len(widths) else 16

    def add(self, values: Iterable[Any], formats: Sequence[str | None] = ()) -> int:
        self.row += 1
        for col, value in enumerate(values, start=1):
            cell = self.ws.cell(row=self.row, column=col, value=value)
            fmt = formats[col - 1] if col <= len(formats) else None
            if fmt:
                cell.number_format = fmt
        return self.row

    def finish(self, freeze: bool = True) -> None:
        if freeze:
            self.ws.freeze_panes = self.ws.cell(row=self.top + 1, column=1)
        last = get_column_letter(len(self.headers))
        self.ws.auto_filter.ref = f"A{self.top}:{last}{max(self.row, self.top + 1)}"


def _group_sheet(wb: Workbook, title: str, label: str, groups: list[GroupTotal], tokens: bool = True) -> Worksheet:
    ws = wb.create_sheet(title)
    headers = [label, "currency", "cost", "previous month", "change", "estimated"]
    if tokens:
        headers += ["tokens (1K)", "cost per 1M tokens"]
    sheet = _Sheet(ws, headers, widths=[40, 10, 18, 18, 10, 11, 16, 18])
    for g in groups:
        fmt = money_format(g.currency)
        values: list[Any] = [
            g.name or "(none)",
            g.currency,
            _number(g.cost),
            _number(g.previous_cost),
            _fraction(g.change_pct),
            "yes" if g.estimated else "no",
        ]
        formats: list[str | None] = [None, None, fmt, fmt, CHANGE, None]
        if tokens:
            values += [_number(g.kilo_tokens), _number(g.cost_per_million_tokens)]
            formats += [QUANTITY, money_format(g.currency, 4)]
        sheet.add(values, formats)
    sheet.finish()
    return ws


def _project_charts(report: MonthlyReport, summary: Worksheet, projects_ws: Worksheet, anchor_col: str) -> None:
    """One bar chart of spend by project per currency (up to 15 projects), on the summary sheet."""
    rows_of: dict[str, list[int]] = {}
    for row in range(2, projects_ws.max_row + 1):
        currency = projects_ws.cell(row=row, column=2).value
        if isinstance(currency, str):
            rows_of.setdefault(currency, []).append(row)
    top = 1
    for currency in sorted(rows_of):
        rows = rows_of[currency][:15]  # sorted biggest first
        chart = BarChart()
        chart.type = "bar"
        chart.title = f"{report.title}: spend by project ({currency})"
        chart.y_axis.title = currency
        chart.y_axis.numFmt = "#,##0"
        chart.legend = None
        data = Reference(projects_ws, min_col=3, max_col=3, min_row=rows[0], max_row=rows[-1])
        names = Reference(projects_ws, min_col=1, max_col=1, min_row=rows[0], max_row=rows[-1])
        chart.add_data(data, titles_from_data=False)
        chart.set_categories(names)
        chart.height = max(6.0, 0.6 * len(rows) + 2)
        chart.width = 18
        summary.add_chart(chart, f"{anchor_col}{top}")
        top += int(chart.height * 2) + 2


def render_xlsx(report: MonthlyReport) -> bytes:
    wb = Workbook()
    summary = wb.active
    assert summary is not None
    summary.title = "Summary"
    summary["A1"] = f"costwatch AI spend report: {report.title}"
    summary["A1"].font = TITLE_FONT
    summary["A2"] = report.status_sentence()
    summary["A2"].font = Font(bold=True)
    summary["A2"].fill = FINAL_FILL if report.data_status == FINAL else ESTIMATED_FILL
    through = report.last_day_with_data
    summary["A3"] = (
        "AI spend (Marketplace models and managed compute) per currency, never added across currencies; "
        + (f"cost data through {through:%Y-%m-%d}." if through else "no cost data for this month.")
    )
    summary["A4"] = "data_status"
    summary["B4"] = report.data_status
    summary["B4"].font = Font(bold=True)

    totals = _Sheet(
        summary,
        ["currency", "cost", "previous month", "change", "cost per 1M tokens", "data status"],
        top=6,
        widths=[28, 20, 20, 12, 20, 14],
    )
    for t in report.totals():
        fmt = money_format(t.currency)
        totals.add(
            [
                t.currency,
                _number(t.cost),
                _number(t.previous_cost),
                _fraction(t.change_pct),
                _number(t.cost_per_million_tokens),
                "estimated" if t.estimated or report.data_status != FINAL else "final",
            ],
            [None, fmt, fmt, CHANGE, money_format(t.currency, 4), None],
        )
    summary.freeze_panes = "A7"
    row = totals.row + 2

    summary.cell(row=row, column=1, value="Budget vs actual ([[alerts.budgets]])").font = Font(bold=True)
    row += 1
    budget_headers = ["scope", "name", "currency", "budget", "actual", "used", "remaining", "status"]
    for col, name in enumerate(budget_headers, start=1):
        cell = summary.cell(row=row, column=col, value=name)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
    if not report.budgets:
        row += 1
        summary.cell(row=row, column=1, value="(no budgets configured)")
    for b in report.budgets:
        row += 1
        fmt = money_format(b.currency)
        values = [
            b.scope,
            b.name,
            b.currency,
            _number(b.amount),
            _number(b.actual),
            _fraction(b.used_pct),
            _number(b.remaining),
            "OVER" if b.over else "within",
        ]
        for col, (value, number_format) in enumerate(
            zip(values, [None, None, None, fmt, fmt, PERCENT, fmt, None], strict=True), start=1
        ):
            cell = summary.cell(row=row, column=col, value=value)
            if number_format:
                cell.number_format = number_format
    row += 2

    summary.cell(row=row, column=1, value=f"Alerts in {report.title}").font = Font(bold=True)
    row += 1
    for col, name in enumerate(["rule", "severity", "fired", "resolved"], start=1):
        cell = summary.cell(row=row, column=col, value=name)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
    if not report.alerts:
        row += 1
        summary.cell(row=row, column=1, value="(no alert fired or resolved this month)")
    for a in report.alerts:
        row += 1
        for col, item in enumerate([a.rule, a.severity, a.fired, a.resolved], start=1):
            summary.cell(row=row, column=col, value=item)

    projects_ws = _group_sheet(wb, "By project", "project", report.by("project"))
    _group_sheet(wb, "By cost center", "cost center", report.by("cost_center"))
    _group_sheet(wb, "By model", "model", report.by("model"))
    _group_sheet(wb, "By meter", "meter", report.by("meter"))
    _group_sheet(wb, "By subscription", "subscription", report.by("subscription"))
    _day_sheet(wb, report)
    _detail_sheet(wb, report)
    _project_charts(report, summary, projects_ws, "H")

    wb.properties.creator = "costwatch"
    wb.properties.title = f"costwatch AI spend report {report.label} ({report.data_status})"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _day_sheet(wb: Workbook, report: MonthlyReport) -> None:
    """One row per day, one cost column per currency (never added together), and a line chart."""
    ws = wb.create_sheet("By day")
    currencies = sorted({d.currency for d in report.days})
    sheet = _Sheet(ws, ["day", *currencies, "estimated"], widths=[12, *([18] * len(currencies)), 11])
    by_day: dict[Any, dict[str, Decimal]] = {}
    estimated: dict[Any, bool] = {}
    for d in report.days:
        by_day.setdefault(d.day, {})[d.currency] = d.cost
        estimated[d.day] = estimated.get(d.day, False) or d.estimated or report.data_status != FINAL
    for day in sorted(by_day):
        sheet.add(
            [day, *(_number(by_day[day].get(c)) for c in currencies), "yes" if estimated[day] else "no"],
            ["yyyy-mm-dd", *(money_format(c) for c in currencies)],
        )
    sheet.finish()
    if not by_day:
        return
    for index, currency in enumerate(currencies):
        chart = LineChart()
        chart.title = f"Daily spend ({currency})"
        chart.y_axis.title = currency
        chart.y_axis.numFmt = "#,##0"
        chart.x_axis.number_format = "dd"
        data = Reference(ws, min_col=2 + index, max_col=2 + index, min_row=1, max_row=sheet.row)
        chart.add_data(data, titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, max_col=1, min_row=2, max_row=sheet.row))
        chart.width, chart.height = 22, 8
        ws.add_chart(chart, f"{get_column_letter(len(currencies) + 4)}{2 + index * 18}")


def _detail_sheet(wb: Workbook, report: MonthlyReport) -> None:
    """The CSV's rows with the previous month and the cost per million tokens beside them."""
    ws = wb.create_sheet("Detail")
    headers = [
        "subscription",
        "subscription name",
        "project",
        "cost center",
        "model",
        "meter",
        "token type",
        "quantity",
        "unit",
        "cost",
        "currency",
        "previous month",
        "cost per 1M tokens",
        "estimated",
    ]
    sheet = _Sheet(ws, headers, widths=[38, 24, 24, 14, 28, 40, 10, 16, 10, 20, 9, 18, 18, 10])
    for line in report.lines:
        fmt = money_format(line.currency, 6)
        sheet.add(
            [
                line.subscription_id,
                line.subscription_name,
                line.project,
                line.cost_center,
                line.model,
                line.meter,
                line.token_type,
                _number(line.quantity),
                line.unit,
                _number(line.cost),
                line.currency,
                _number(report.previous_cost(line)),
                _number(line.cost_per_million_tokens),
                "yes" if line.estimated or report.data_status != FINAL else "no",
            ],
            [None, None, None, None, None, None, None, QUANTITY, None, fmt, None, fmt, money_format(line.currency, 4)],
        )
    sheet.finish()
