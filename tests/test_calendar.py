"""The working-day calendar across 2026's Spring Festival and National Day, and beyond the library."""

from __future__ import annotations

import datetime as dt

import pytest

from tongban.common.models import AuditEvent
from tongban.org import calendar, services
from tongban.org.calendar import CalendarUnknown

D = dt.date
pytestmark = pytest.mark.real_calendar


@pytest.mark.django_db
class TestSpringFestival2026:
    def test_make_up_saturday_is_a_working_day(self):
        assert calendar.is_workday(D(2026, 2, 14)) is True  # Saturday, 调休上班
        assert calendar.is_workday(D(2026, 2, 28)) is True  # Saturday, 调休上班

    def test_holiday_weekdays_are_not_working_days(self):
        assert [calendar.is_workday(D(2026, 2, d)) for d in range(15, 24)] == [False] * 9

    def test_adding_across_the_holiday(self):
        assert calendar.add_working_days(D(2026, 2, 12), 1) == D(2026, 2, 13)
        assert calendar.add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 14)
        assert calendar.add_working_days(D(2026, 2, 14), 1) == D(2026, 2, 24)
        # 5 working days from Thursday 12 Feb: 13, 14 (Sat), 24, 25, 26
        assert calendar.add_working_days(D(2026, 2, 12), 5) == D(2026, 2, 26)

    def test_counting_between(self):
        # (12 Feb, 28 Feb]: 13, 14, 24, 25, 26, 27, 28
        assert calendar.working_days_between(D(2026, 2, 12), D(2026, 2, 28)) == 7
        assert calendar.working_days_between(D(2026, 2, 28), D(2026, 2, 12)) == -7
        assert calendar.working_days_between(D(2026, 2, 15), D(2026, 2, 23)) == 0


@pytest.mark.django_db
class TestNationalDay2026:
    def test_make_up_days(self):
        assert calendar.is_workday(D(2026, 9, 20)) is True  # Sunday, 调休上班
        assert calendar.is_workday(D(2026, 10, 10)) is True  # Saturday, 调休上班
        assert calendar.is_workday(D(2026, 9, 19)) is False  # an ordinary Saturday

    def test_twenty_working_days_over_the_golden_week(self):
        assert calendar.add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 8)
        assert calendar.add_working_days(D(2026, 10, 9), 1) == D(2026, 10, 10)
        assert calendar.add_working_days(D(2026, 10, 10), 1) == D(2026, 10, 12)
        # Filed on Friday 25 Sep 2026 (中秋, a holiday): 28, 29, 30 Sep, then 8, 9, 10 (Sat) Oct …
        # the 20th working day is Thursday 29 Oct 2026.
        assert calendar.is_workday(D(2026, 9, 25)) is False
        assert calendar.add_working_days(D(2026, 9, 25), 6) == D(2026, 10, 10)
        assert calendar.add_working_days(D(2026, 9, 25), 20) == D(2026, 10, 29)


@pytest.mark.django_db
class TestOverridesAndUnknownYears:
    def test_an_override_beats_the_library(self):
        assert calendar.is_workday(D(2026, 12, 31)) is True
        services.workday_override_set(actor=None, date=D(2026, 12, 31), is_workday=False, note="演示：临时放假")
        assert calendar.is_workday(D(2026, 12, 31)) is False
        row = AuditEvent.objects.get(action="calendar.override_set")
        assert row.object_id == "2026-12-31"
        assert row.after == {"is_workday": False, "note": "演示：临时放假"}
        services.workday_override_delete(actor=None, date=D(2026, 12, 31))
        assert calendar.is_workday(D(2026, 12, 31)) is True
        assert AuditEvent.objects.filter(action="calendar.override_delete").count() == 1

    def test_a_year_nobody_entered_is_refused_not_guessed(self):
        with pytest.raises(CalendarUnknown) as info:
            calendar.add_working_days(D(2026, 12, 30), 5)
        assert info.value.code == "calendar_unknown"
        assert "2027" in info.value.message

    def test_an_entered_year_works(self):
        services.workday_override_set(actor=None, date=D(2027, 1, 1), is_workday=False, note="元旦")
        services.calendar_year_set(actor=None, year=2027, source="国务院办公厅关于2027年部分节假日安排的通知", complete=True)
        # Thu 31 Dec 2026 → Fri 1 Jan 2027 is a holiday → Mon 4 Jan 2027
        assert calendar.add_working_days(D(2026, 12, 31), 1) == D(2027, 1, 4)

    def test_a_note_is_required(self):
        from tongban.common.errors import ValidationFailed

        with pytest.raises(ValidationFailed):
            services.workday_override_set(actor=None, date=D(2026, 5, 6), is_workday=True, note="  ")

    def test_bad_arguments(self):
        with pytest.raises(ValueError):
            calendar.add_working_days(D(2026, 1, 5), -1)


@pytest.mark.django_db
def test_the_shared_estimate_calendar_sees_an_override_once_committed(django_capture_on_commit_callbacks):
    assert calendar.estimate_calendar().is_workday(D(2026, 12, 31)) is True
    with django_capture_on_commit_callbacks(execute=True):
        services.workday_override_set(actor=None, date=D(2026, 12, 31), is_workday=False, note="演示：临时放假")
    assert calendar.estimate_calendar().is_workday(D(2026, 12, 31)) is False


@pytest.mark.django_db
def test_operators_are_warned_late_in_the_year_while_next_year_is_unknown():
    assert calendar.next_year_missing(D(2026, 9, 30)) is None  # too early to matter
    assert calendar.next_year_missing(D(2026, 11, 22)) == 2027
    assert calendar.next_year_missing(D(2025, 11, 22)) is None  # the library knows 2026
    services.calendar_year_set(actor=None, year=2027, source="国务院办公厅关于2027年部分节假日安排的通知", complete=True)
    assert calendar.next_year_missing(D(2026, 11, 22)) is None
