"""Calendar arithmetic: months, Azure's restatement window (a month's costs are final only after day
`final_after_day` of the next month), and the minutes and hours traffic is counted in."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(month: date) -> date:
    """The last day of the month."""
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def default_window_start(today: date, final_after_day: int = 5) -> date:
    """First day to re-pull: last month's 1st while last month is not final, else this month's 1st."""
    this_month = month_start(today)
    return add_months(this_month, -1) if today.day <= final_after_day else this_month


def is_final(day: date, today: date, final_after_day: int = 5) -> bool:
    """A day's figures are final once its month has closed (after `final_after_day` of the next month)."""
    closes = add_months(month_start(day), 1).replace(day=final_after_day)
    return today > closes


def floor_minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
