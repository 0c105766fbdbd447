"""Reminders to clerks before a limit passes (黄灯提醒) and when it has passed (红灯提醒), through the
message centre. Run by the worker's scheduler; each case is reminded at most once per stage of its
current limits (services reset ``reminded_stage`` whenever a step or a limit changes), and the
stage is raised with a conditional UPDATE in the same transaction as the messages, so two
schedulers at once send one reminder."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tongban.cases import machine
from tongban.cases.models import Case
from tongban.cases.services import LOCAL
from tongban.identity.models import Account, StaffRole
from tongban.org.calendar import CalendarUnknown, add_working_days

logger = logging.getLogger(__name__)

DUE_SOON, OVERDUE = 1, 2
# States whose limits run (a suspended case's clock is stopped; a concluded one only awaits delivery).
WATCHED = (machine.State.SUBMITTED, machine.State.ACCEPTED, machine.State.SUPPLEMENTING, machine.State.DECIDED)
HANDLING_ROLES = (StaffRole.Role.WINDOW_CLERK, StaffRole.Role.REVIEWER, StaffRole.Role.APPROVER, StaffRole.Role.DEPT_ADMIN)
MAX_RECIPIENTS = 20


def nearest_due(case: Case) -> dt.date | None:
    """The earliest limit the case's current step must meet."""
    dues = [case.step_due]
    if case.state in (machine.State.ACCEPTED, machine.State.SUPPLEMENTING):
        dues += [case.due_promised, case.due_legal]
    present = [d for d in dues if d is not None]
    return min(present) if present else None


def _recipients(case: Case) -> list[Account]:
    """The clerk who claimed the case, or else the department's handling staff."""
    if case.assignee_id and case.assignee is not None and case.assignee.is_active:
        return [case.assignee]
    if case.department_id is None:
        return []
    ids = (
        StaffRole.objects.filter(department_id=case.department_id, role__in=HANDLING_ROLES).values_list("account_id", flat=True).distinct()
    )
    return list(Account.objects.filter(pk__in=ids, is_active=True).order_by("pk")[:MAX_RECIPIENTS])


def _remind(case: Case, stage: int, due_on: dt.date) -> bool:
    from tongban.messaging.services import message_send

    with transaction.atomic():
        raised = Case.objects.filter(pk=case.pk, version=case.version, reminded_stage__lt=stage).update(reminded_stage=stage)
        if not raised:
            return False  # another scheduler did it, or the case moved meanwhile
        words = "已超期" if stage == OVERDUE else "即将到期"
        for account in _recipients(case):
            message_send(
                recipient=account,
                template="case-deadline",
                data={
                    "item": case.implementation.base.name[:30],
                    "case_code": case.code or "",
                    "stage": words,
                    "due": due_on.isoformat(),
                    "link": f"/workbench/cases/{case.public_id}/",
                },
                reason=f"办件时限提醒：{words}",
            )
    return True


def cases_remind(*, today: dt.date | None = None, limit: int = 500) -> int:
    """Remind the clerks of cases whose limit is within CLOCK_YELLOW_WORKING_DAYS working days
    (once) and of cases past it (once more). Bounded per round; returns reminders sent."""
    today = today or timezone.localdate(timezone.now(), LOCAL)
    try:
        horizon = add_working_days(today, int(settings.CLOCK_YELLOW_WORKING_DAYS))
    except CalendarUnknown:  # next year's holidays not entered yet: remind by calendar days meanwhile
        logger.warning("working-day calendar unknown after %s; reminders use calendar days", today)
        horizon = today + dt.timedelta(days=int(settings.CLOCK_YELLOW_WORKING_DAYS))
    near = Q(step_due__lte=horizon) | Q(due_promised__lte=horizon) | Q(due_legal__lte=horizon)
    past = Q(step_due__lt=today) | Q(due_promised__lt=today) | Q(due_legal__lt=today)
    candidates = (
        Case.objects.filter(state__in=WATCHED)
        .filter((Q(reminded_stage=0) & near) | (Q(reminded_stage=DUE_SOON) & past))
        .select_related("implementation__base", "assignee")
        .order_by("id")[:limit]
    )
    sent = 0
    for case in candidates:
        due_on = nearest_due(case)
        if due_on is None:
            continue
        stage = OVERDUE if today > due_on else DUE_SOON if due_on <= horizon else 0
        if stage > case.reminded_stage and _remind(case, stage, due_on):
            sent += 1
    return sent
