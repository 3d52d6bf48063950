"""Monthly finance reports: one model of the month (monthly.py) written as CSV, Excel, PDF or FOCUS,
stored and recorded (files.py), mailed (mail.py), and run by `costwatch report` (cli.py)."""

from __future__ import annotations

from collector.read.monthly_report import MonthlyReport, build_report, detail_rows, parse_month
from collector.reports.files import FORMATS, Generated, generate, generated_reports

__all__ = [
    "FORMATS",
    "Generated",
    "MonthlyReport",
    "build_report",
    "detail_rows",
    "generate",
    "generated_reports",
    "parse_month",
]
