"""The working-day calendar: operators' overrides, complete years, and a helper to count working days."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from tongban.common.errors import DomainError
from tongban.org import calendar as workdays
from tongban.org import services as org
from tongban.web.console import forms as f
from tongban.web.console import queries
from tongban.web.console.access import operator_view

WEEKDAYS = ["星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"]


def _year_url(year: int) -> str:
    return f"{reverse('console:calendar')}?year={year}"


def _render(
    request: HttpRequest,
    year: int,
    *,
    override_form: Any = None,
    year_form: Any = None,
    count_form: Any = None,
    count: Any = None,
    error: DomainError | None = None,
    status: int = 200,
) -> HttpResponse:
    row = queries.calendar_year_get(year)
    overrides = queries.overrides_of_year(year)
    return render(
        request,
        "console/calendar.html",
        {
            "title": "工作日历",
            "section": "calendar",
            "year": year,
            "previous_year": year - 1 if year > 2000 else None,
            "next_year": year + 1 if year < 2100 else None,
            "year_row": row,
            "overrides": [(o, WEEKDAYS[o.date.weekday()]) for o in overrides],
            "override_form": override_form or f.OverrideForm(),
            "year_form": year_form
            or f.CalendarYearForm(initial={"year": year, "source": row.source if row else "", "complete": row.complete if row else False}),
            "count_form": count_form or f.CountForm(),
            "count": count,
            "error": error,
        },
        status=status,
    )


@operator_view
@require_GET
def calendar(request: HttpRequest) -> HttpResponse:
    year = timezone.localdate().year
    picker = f.YearForm(request.GET if "year" in request.GET else None)
    if picker.is_bound and picker.is_valid():
        year = picker.cleaned_data["year"]
    override_form = None
    editing = request.GET.get("edit", "")
    if editing:
        try:
            existing = queries.override_get(dt.date.fromisoformat(editing))
        except ValueError:
            existing = None
        if existing is not None:
            override_form = f.OverrideForm(
                initial={"date": existing.date, "is_workday": "1" if existing.is_workday else "0", "note": existing.note}
            )
    count_form = f.CountForm(request.GET if "start" in request.GET else None)
    count: dict[str, Any] | None = None
    if count_form.is_bound and count_form.is_valid():
        start, days = count_form.cleaned_data["start"], count_form.cleaned_data["days"]
        try:
            end = workdays.add_working_days(start, days)
        except workdays.CalendarUnknown as exc:
            count = {"error": exc.message}
        except ValueError:
            count = {"error": "跨度超过十年，无法计算，请缩短工作日数。"}
        else:
            count = {"start": start, "days": days, "end": end, "weekday": WEEKDAYS[end.weekday()]}
    return _render(request, year, override_form=override_form, count_form=count_form, count=count)


@operator_view
@require_POST
def override_set(request: HttpRequest) -> HttpResponse:
    form = f.OverrideForm(request.POST)
    if not form.is_valid():
        year = form.cleaned_data["date"].year if "date" in form.cleaned_data else timezone.localdate().year
        return _render(request, year, override_form=form, status=422)
    day = form.cleaned_data["date"]
    try:
        org.workday_override_set(actor=request.user, date=day, is_workday=form.cleaned_data["is_workday"], note=form.cleaned_data["note"])
    except DomainError as exc:
        return _render(request, day.year, override_form=form, error=exc, status=exc.status)
    kind = "上班" if form.cleaned_data["is_workday"] else "放假"
    messages.success(request, f"已将 {day:%Y年%m月%d日} 设为{kind}。")
    return redirect(_year_url(day.year))


@operator_view
@require_POST
def override_delete(request: HttpRequest) -> HttpResponse:
    form = f.OverrideDeleteForm(request.POST)
    if not form.is_valid():
        return _render(request, timezone.localdate().year, error=DomainError("要删除的日期无效。"), status=422)
    day = form.cleaned_data["date"]
    org.workday_override_delete(actor=request.user, date=day)
    messages.success(request, f"已删除 {day:%Y年%m月%d日} 的调整，该日恢复按节假日库或周末计算。")
    return redirect(_year_url(day.year))


@operator_view
@require_POST
def calendar_year(request: HttpRequest) -> HttpResponse:
    form = f.CalendarYearForm(request.POST)
    if not form.is_valid():
        year = form.cleaned_data.get("year") or timezone.localdate().year
        return _render(request, year, year_form=form, status=422)
    year = form.cleaned_data["year"]
    try:
        org.calendar_year_set(actor=request.user, year=year, source=form.cleaned_data["source"], complete=form.cleaned_data["complete"])
    except DomainError as exc:
        return _render(request, year, year_form=form, error=exc, status=exc.status)
    if form.cleaned_data["complete"]:
        messages.success(request, f"{year} 年已标记为完整录入，期限将按该年的调整和周末计算。")
    else:
        messages.success(request, f"已保存 {year} 年的依据；尚未标记为完整录入。")
    return redirect(_year_url(year))
