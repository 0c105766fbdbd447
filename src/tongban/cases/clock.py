"""The statutory clock in working days (行政许可法 §32, §42, §45; the org calendar).

The limit runs from acceptance: the due date is ``limit + extension + suspended`` working days
after the acceptance day, where suspended counts the working days spent in special procedures
(hearing, testing, expert review: §45). Pure functions over the working-day calendar.
"""

from __future__ import annotations

import datetime as dt

from tongban.org.calendar import add_working_days, working_days_between

EXTENSION_DAYS = 10  # §42: once, with approval


def due(accepted_on: dt.date, limit_days: int, *, extension_days: int = 0, suspended_working_days: int = 0) -> dt.date:
    return add_working_days(accepted_on, limit_days + extension_days + suspended_working_days)


def suspended_days(since: dt.date, until: dt.date) -> int:
    """Working days a suspension took: those in (since, until], the resumption day included."""
    return max(0, working_days_between(since, until))


def light(due_on: dt.date | None, today: dt.date, *, yellow_days: int) -> str:
    """green, yellow (within ``yellow_days`` working days of the limit) or red (past it)."""
    if due_on is None:
        return "none"
    if today > due_on:
        return "red"
    if working_days_between(today, due_on) <= yellow_days:
        return "yellow"
    return "green"
