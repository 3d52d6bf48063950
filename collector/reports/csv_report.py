"""The finance CSV: one row per subscription, project, model, meter and currency of the month.

Columns (the contract): month,subscription_id,project,cost_center,model,meter,quantity,unit,cost,currency,
data_status. Rows sorted by subscription, project, model, meter, currency; `cost` a plain decimal with at
least 6 decimals; UTF-8, LF line ends, no timestamp: the same store gives the same bytes.
"""

from __future__ import annotations

import csv
import io

from collector.read.monthly_report import ESTIMATED, FINAL, MonthlyReport, ReportLine
from collector.reports.text import plain

COLUMNS = (
    "month",
    "subscription_id",
    "project",
    "cost_center",
    "model",
    "meter",
    "quantity",
    "unit",
    "cost",
    "currency",
    "data_status",
)


def line_status(report: MonthlyReport, line: ReportLine) -> str:
    """A row is final when the month is final (then every row is) and none of its days is an estimate."""
    return FINAL if report.data_status == FINAL and not line.estimated else ESTIMATED


def render_csv(report: MonthlyReport) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for line in report.lines:
        writer.writerow(
            [
                report.label,
                line.subscription_id,
                line.project,
                line.cost_center,
                line.model,
                line.meter,
                plain(line.quantity),
                line.unit,
                plain(line.cost, 6),
                line.currency,
                line_status(report, line),
            ]
        )
    return out.getvalue().encode("utf-8")
