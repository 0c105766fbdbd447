"""Writes of the org domain. Each takes keyword-only arguments with the acting user and audits."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from tongban.common.audit import audit_record
from tongban.common.codes import DIVISION_CODE, is_valid_uscc
from tongban.common.errors import ValidationFailed
from tongban.org.calendar import forget_estimate_calendar
from tongban.org.models import CalendarYear, Department, Division, Hall, WorkdayOverride
from tongban.org.selectors import forget_cached_halls


def division_upsert(*, actor: Any, code: str, name: str, level: int, parent: Division | None) -> Division:
    if not DIVISION_CODE.match(code):
        raise ValidationFailed(f"区划代码“{code}”应为 6、9 或 12 位数字。", code="invalid_division_code")
    if parent is not None and parent.level >= level:
        raise ValidationFailed("下级区划的层级必须低于上级。", code="invalid_division_level")
    path = f"{parent.path}/{code}" if parent else code
    with transaction.atomic():
        existing = Division.objects.filter(code=code).first()
        if existing and (existing.name, existing.level, existing.parent_id, existing.path) == (
            name,
            level,
            parent.pk if parent else None,
            path,
        ):
            return existing  # unchanged: no write, no audit row
        division, created = Division.objects.update_or_create(
            code=code, defaults={"name": name, "level": level, "parent": parent, "path": path}
        )
        audit_record(
            actor=actor,
            action="division.create" if created else "division.update",
            object_type="division",
            object_id=code,
            after={"name": name, "level": level, "parent": parent.code if parent else None},
        )
    return division


def department_upsert(
    *,
    actor: Any,
    credit_code: str,
    name: str,
    division: Division,
    kind: str,
    short_name: str = "",
    phone: str = "",
    address: str = "",
    sort: int = 0,
) -> Department:
    if not is_valid_uscc(credit_code):
        raise ValidationFailed(f"统一社会信用代码“{credit_code}”校验不通过。", code="invalid_credit_code")
    values = {"name": name, "short_name": short_name, "division": division, "kind": kind, "phone": phone, "address": address, "sort": sort}
    with transaction.atomic():
        existing = Department.objects.filter(credit_code=credit_code).first()
        if existing and all(getattr(existing, k) == v for k, v in values.items()):
            return existing
        department, created = Department.objects.update_or_create(credit_code=credit_code, defaults=values)
        audit_record(
            actor=actor,
            action="department.create" if created else "department.update",
            object_type="department",
            object_id=credit_code,
            after={"name": name, "division": division.code, "kind": kind},
        )
    return department


def hall_upsert(*, actor: Any, division: Division, name: str, address: str = "", hours: str = "", phone: str = "") -> Hall:
    kind = Hall.Kind.MAIN if division.level == Division.Level.PROVINCE else Hall.Kind.BRANCH
    if division.level > Division.Level.COUNTY:
        raise ValidationFailed("网上办事分厅只设到县级。", code="invalid_hall_level")
    values = {"name": name, "kind": kind, "address": address, "hours": hours, "phone": phone}
    with transaction.atomic():
        existing = Hall.objects.filter(division=division).first()
        if existing and all(getattr(existing, k) == v for k, v in values.items()):
            return existing
        hall, created = Hall.objects.update_or_create(division=division, defaults=values)
        transaction.on_commit(forget_cached_halls)
        audit_record(
            actor=actor,
            action="hall.create" if created else "hall.update",
            object_type="hall",
            object_id=division.code,
            after={"name": name, "kind": kind},
        )
    return hall


def workday_override_set(*, actor: Any, date: dt.date, is_workday: bool, note: str) -> WorkdayOverride:
    note = note.strip()
    if not note:
        raise ValidationFailed("请填写调整说明，例如“国庆节调休上班”。", code="note_required")
    with transaction.atomic():
        existing = WorkdayOverride.objects.select_for_update().filter(date=date).first()
        before = {"is_workday": existing.is_workday, "note": existing.note} if existing else None
        override, _ = WorkdayOverride.objects.update_or_create(date=date, defaults={"is_workday": is_workday, "note": note})
        transaction.on_commit(forget_estimate_calendar)
        audit_record(
            actor=actor,
            action="calendar.override_set",
            object_type="workday",
            object_id=date.isoformat(),
            before=before,
            after={"is_workday": is_workday, "note": note},
        )
    return override


def workday_override_delete(*, actor: Any, date: dt.date) -> None:
    with transaction.atomic():
        existing = WorkdayOverride.objects.select_for_update().filter(date=date).first()
        if existing is None:
            return
        transaction.on_commit(forget_estimate_calendar)
        audit_record(
            actor=actor,
            action="calendar.override_delete",
            object_type="workday",
            object_id=date.isoformat(),
            before={"is_workday": existing.is_workday, "note": existing.note},
        )
        existing.delete()


def calendar_year_set(*, actor: Any, year: int, source: str, complete: bool) -> CalendarYear:
    if not 2000 <= year <= 2100:
        raise ValidationFailed("年份应在 2000 至 2100 之间。", code="invalid_year")
    if not source.strip():
        raise ValidationFailed("请填写依据，例如国务院办公厅关于节假日安排的通知文号。", code="source_required")
    with transaction.atomic():
        row, _ = CalendarYear.objects.update_or_create(year=year, defaults={"source": source.strip(), "complete": complete})
        transaction.on_commit(forget_estimate_calendar)
        audit_record(
            actor=actor,
            action="calendar.year_set",
            object_type="calendar_year",
            object_id=str(year),
            after={"source": source, "complete": complete},
        )
    return row


def departments_bulk_create(*, actor: Any, rows: list[dict[str, Any]]) -> int:
    """Create many departments at once (demo and benchmark loads); existing credit codes are skipped.

    Each row: credit_code, name, short_name, division (Division), kind, phone, address, sort.
    """
    from tongban.common.models import AuditEvent
    from tongban.common.observability import request_id_var

    existing = set(Department.objects.values_list("credit_code", flat=True))
    objs = []
    for row in rows:
        if not is_valid_uscc(row["credit_code"]):
            raise ValidationFailed(f"统一社会信用代码“{row['credit_code']}”校验不通过。", code="invalid_credit_code")
        if row["credit_code"] in existing:
            continue
        existing.add(row["credit_code"])
        objs.append(Department(**row))
    label = getattr(actor, "username", None) or "system"
    with transaction.atomic():
        Department.objects.bulk_create(objs, batch_size=1000)
        AuditEvent.objects.bulk_create(
            [
                AuditEvent(
                    actor_label=label,
                    action="department.create",
                    object_type="department",
                    object_id=o.credit_code,
                    after={"name": o.name, "division": o.division.code, "kind": o.kind},
                    request_id=request_id_var.get(),
                )
                for o in objs
            ],
            batch_size=1000,
        )
    return len(objs)
