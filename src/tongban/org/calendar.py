"""Working days: `chinesecalendar` for the years it knows, the operators' override table on top.

Legal limits are counted in working days (行政许可法 §82 and local rules). The day an
application is accepted does not count: `add_working_days(d, n)` is the n-th working day
after d. A date that neither source knows raises `CalendarUnknown`: a deadline is a legal
fact and must never be guessed.
"""

from __future__ import annotations

import datetime as dt
import time
from functools import lru_cache

import chinese_calendar

from tongban.common.errors import DomainError
from tongban.org.models import CalendarYear, WorkdayOverride

MAX_SPAN_DAYS = 3660  # ten years: a bound so a bad input cannot loop for long


class CalendarUnknown(DomainError):
    code = "calendar_unknown"

    def __init__(self, day: dt.date) -> None:
        super().__init__(
            f"{day.year} 年的节假日安排尚未录入工作日历，无法计算 {day.isoformat()} 是否为工作日。"
            "请运营人员按国务院办公厅通知在“工作日历”中录入该年度安排。",
        )
        self.day = day


@lru_cache(maxsize=64)
def _library_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


class WorkCalendar:
    """A snapshot of the override table, so counting many days costs two queries, not one per day."""

    def __init__(self) -> None:
        self._overrides = dict(WorkdayOverride.objects.values_list("date", "is_workday"))
        self._complete_years = set(CalendarYear.objects.filter(complete=True).values_list("year", flat=True))

    def is_workday(self, day: dt.date) -> bool:
        if day in self._overrides:
            return self._overrides[day]
        if day.year in self._complete_years:
            # The operator entered every holiday and make-up day of this year as overrides.
            return day.weekday() < 5
        if _library_covers(day.year):
            try:
                return bool(chinese_calendar.is_workday(day))
            except NotImplementedError:
                pass
        raise CalendarUnknown(day)

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The date `days` working days after `start` (start itself not counted). days ≥ 0."""
        if days < 0:
            raise ValueError("days must not be negative")
        current = start
        remaining = days
        for _ in range(MAX_SPAN_DAYS):
            if remaining == 0:
                return current
            current += dt.timedelta(days=1)
            if self.is_workday(current):
                remaining -= 1
        raise ValueError("span longer than ten years")

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]; negative when end is before start."""
        if end < start:
            return -self.working_days_between(end, start)
        if (end - start).days > MAX_SPAN_DAYS:
            raise ValueError("span longer than ten years")
        count = 0
        current = start
        while current < end:
            current += dt.timedelta(days=1)
            if self.is_workday(current):
                count += 1
        return count


_ESTIMATE_TTL = 60.0
_ESTIMATE: dict[str, object] = {"expires": 0.0, "calendar": None}


def estimate_calendar() -> WorkCalendar:
    """A calendar snapshot shared by a process for a minute, for estimates shown on pages
    ("预计 11 月 28 日前办结"). Legal deadlines use a fresh `WorkCalendar()` inside their
    transaction; an operator's override reaches these estimates within a minute."""
    now = time.monotonic()
    if _ESTIMATE["expires"] <= now or _ESTIMATE["calendar"] is None:  # type: ignore[operator]
        _ESTIMATE["calendar"] = WorkCalendar()
        _ESTIMATE["expires"] = now + _ESTIMATE_TTL
    return _ESTIMATE["calendar"]  # type: ignore[return-value]


def forget_estimate_calendar() -> None:
    _ESTIMATE["expires"] = 0.0


def year_known(year: int) -> bool:
    """Whether deadlines can be counted into ``year``: the library covers it or an operator marked
    it complete."""
    return _library_covers(year) or CalendarYear.objects.filter(year=year, complete=True).exists()


WARN_FROM_MONTH = 10  # from October on, a missing next year blocks deadlines that cross New Year


def next_year_missing(today: dt.date) -> int | None:
    """The coming year when its holidays are still unknown late in this year, else None."""
    if today.month >= WARN_FROM_MONTH and not year_known(today.year + 1):
        return today.year + 1
    return None


def is_workday(day: dt.date) -> bool:
    return WorkCalendar().is_workday(day)


def add_working_days(start: dt.date, days: int) -> dt.date:
    return WorkCalendar().add_working_days(start, days)


def working_days_between(start: dt.date, end: dt.date) -> int:
    return WorkCalendar().working_days_between(start, end)
