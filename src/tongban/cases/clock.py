"""The statutory clock in working days (行政许可法 §32, §42, §45; the org calendar).

The limit runs from acceptance: the due date is ``limit + extension + suspended`` working days
after the acceptance day, where suspended counts the working days spent in special procedures
(hearing, testing, expert review: §45). Pure functions over the working-day calendar.
"""

from __future__ import annotations

import datetime as dt

from tongban.org.calendar import WorkCalendar, add_working_days, working_days_between

EXTENSION_DAYS = 10  # §42: once, with approval


def due(
    accepted_on: dt.date,
    limit_days: int,
    *,
    extension_days: int = 0,
    suspended_working_days: int = 0,
    calendar: WorkCalendar | None = None,
) -> dt.date:
    """``calendar``: a snapshot read once for every limit of one step (else one is read here)."""
    days = limit_days + extension_days + suspended_working_days
    return calendar.add_working_days(accepted_on, days) if calendar is not None else add_working_days(accepted_on, days)


def suspended_days(since: dt.date, until: dt.date, *, calendar: WorkCalendar | None = None) -> int:
    """Working days a suspension took: those in (since, until], the resumption day included."""
    taken = calendar.working_days_between(since, until) if calendar is not None else working_days_between(since, until)
    return max(0, taken)


def light(due_on: dt.date | None, today: dt.date, *, yellow_days: int) -> str:
    """green, yellow (within ``yellow_days`` working days of the limit) or red (past it)."""
    if due_on is None:
        return "none"
    if today > due_on:
        return "red"
    if working_days_between(today, due_on) <= yellow_days:
        return "yellow"
    return "green"
