"""The monthly schedule finance expects: a preliminary report of last month on the 1st, and the final one
on the day after `[costs] final_after_day` (the 6th by default), once Azure has closed the month.

`due_report` says what is due on a day; `generate_due` writes it in every format and mails the files in
one message. `costwatch schedule` calls `generate_due` every day at 06:00 UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from collector.periods import add_months
from collector.read.monthly_report import ESTIMATED, FINAL, DataStatus
from collector.reports.files import FORMATS, Generated, generate
from collector.settings import Settings


@dataclass(frozen=True)
class Due:
    month: date
    expected: DataStatus  # what the report should be; the store decides what it is


def due_report(today: date, final_after_day: int) -> Due | None:
    """The report due on `today`, if any."""
    previous = add_months(today.replace(day=1), -1)
    if today.day == 1:
        return Due(previous, ESTIMATED)
    if today.day == final_after_day + 1:
        return Due(previous, FINAL)
    return None


def generate_due(
    engine: Engine,
    settings: Settings,
    today: date,
    *,
    formats: tuple[str, ...] = FORMATS,
    folder: Path | str | None = None,
    email: bool = True,
) -> list[Generated]:
    """Write the report due today in each format into `folder` (default reports/), and mail the files
    when [alerts.email] is configured; [] when none is due."""
    due = due_report(today, settings.costs.final_after_day)
    if due is None:
        return []
    out = None if folder is None else f"{Path(folder)}/"
    made = [generate(engine, settings, due.month, fmt, out, today=today) for fmt in formats]
    if email and settings.alerts.email.enabled and made:
        from collector.reports.mail import ReportMailer

        ReportMailer(settings.alerts.email).send_report(made[0].report, [(g.format, g.path) for g in made])
    return made
