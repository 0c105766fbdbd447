"""Case writes: drafts, submission with its registration code, and every transition of the state
machine with the statutory clock kept in step. Each write is one transaction with a timeline event
and an audit row; clerks act with the version they saw, so of two clerks at once one wins and the
other gets a clear conflict."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from tongban.cases import clock, machine
from tongban.cases.models import Case, CaseDaySequence, CaseEvent
from tongban.catalog.models import Implementation
from tongban.common.audit import audit_record
from tongban.common.errors import Conflict, NotFound, ValidationFailed
from tongban.identity.models import Account

LOCAL = ZoneInfo("Asia/Shanghai")
MAX_DAILY = 9999


def next_case_code(implementation_code: str, day: dt.date) -> str:
    """The next 43-character registration code. Call inside the submitting transaction: the
    sequence row stays locked until it commits, so concurrent submissions queue for a number."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("next_case_code must run inside a transaction")
    rows = CaseDaySequence.objects.filter(implementation_code=implementation_code, day=day)
    if not rows.update(last=F("last") + 1):
        try:
            with transaction.atomic():
                CaseDaySequence.objects.create(implementation_code=implementation_code, day=day, last=1)
        except IntegrityError:  # another submission created today's row first
            rows.update(last=F("last") + 1)
    number = rows.values_list("last", flat=True).get()
    if number > MAX_DAILY:
        raise Conflict("该事项今日办件编号已用完，请明日再提交或联系平台运营人员。", code="case_numbers_exhausted")
    return f"{implementation_code}{day:%Y%m%d}{number:04d}"


def case_draft(*, applicant: Account, implementation: Implementation, form_data: dict[str, Any] | None = None) -> Case:
    return Case.objects.create(applicant=applicant, implementation=implementation, form_data=form_data or {})


def case_submit(*, applicant: Account, case_id: str, channel: int = Case.Channel.ONLINE) -> Case:
    """Submit a draft: it gets its registration code. Submitting again has no second effect."""
    with transaction.atomic():
        case = Case.objects.select_for_update().select_related("implementation").filter(public_id=case_id, applicant=applicant).first()
        if case is None:
            raise NotFound("没有找到这份申请。", code="case_unknown")
        if case.state != machine.State.DRAFT:
            return case  # a repeated submit: the first one stands
        today = timezone.localdate(timezone.now(), LOCAL)
        case.code = next_case_code(case.implementation.code, today)
        case.channel = channel
        case.submitted_at = timezone.now()
        case.legal_limit_days = case.implementation.legal_limit
        case.promised_limit_days = case.implementation.promised_limit
        _apply(case, "submit", machine.Actor.APPLICANT, applicant, "")
    return case


def case_act(
    *,
    actor: Account | None,
    case_id: str,
    action: str,
    expected_version: int,
    opinion: str = "",
    actor_kind: str = "clerk",
    on: dt.date | None = None,
) -> Case:
    """Take one step of the state machine. ``on`` is the local day it happens (today by default)."""
    kind = machine.Actor(actor_kind)
    with transaction.atomic():
        case = Case.objects.select_for_update().filter(public_id=case_id).first()
        if case is None:
            raise NotFound("没有找到这个办件。", code="case_unknown")
        if case.version != expected_version:
            raise Conflict("该办件刚刚已被他人处理，请刷新后查看最新状态。", code="case_changed")
        _apply(case, action, kind, actor, opinion, on=on)
    return case


def _apply(case: Case, action: str, kind: machine.Actor, actor: Account | None, opinion: str, on: dt.date | None = None) -> None:
    try:
        transition = machine.next_state(machine.State(case.state), action, kind)
    except machine.NotAllowed as exc:
        raise Conflict(
            f"当前状态（{machine.LABELS[machine.State(case.state)]}）下不能执行这一步。",
            code="case_transition",
            details={"reason": str(exc)},
        ) from exc
    if transition.needs_opinion and not opinion.strip():
        raise ValidationFailed("这一步需要填写意见或理由。", code="opinion_required")
    day = on or timezone.localdate(timezone.now(), LOCAL)
    before = case.state
    if action in ("accept", "deem_accepted"):
        case.accepted_on = day
    elif action == "suspend":
        case.suspended_since = day
    elif action == "resume" and case.suspended_since is not None:
        case.suspended_working_days += clock.suspended_days(case.suspended_since, day)
        case.suspended_since = None
    elif action == "extend":
        if case.extension_days:
            raise Conflict("延期只能批准一次（行政许可法第四十二条）。", code="already_extended")
        case.extension_days = clock.EXTENSION_DAYS
    if transition.conclusion is not None:
        case.conclusion = transition.conclusion
    case.state = transition.target
    if case.accepted_on is not None:
        suspended = case.suspended_working_days
        case.due_legal = clock.due(
            case.accepted_on, case.legal_limit_days, extension_days=case.extension_days, suspended_working_days=suspended
        )
        if case.promised_limit_days:
            case.due_promised = clock.due(
                case.accepted_on, case.promised_limit_days, extension_days=case.extension_days, suspended_working_days=suspended
            )
    case.version += 1
    case.save()
    CaseEvent.objects.create(
        case=case,
        action=action,
        from_state=before,
        to_state=case.state,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_kind=kind.value,
        opinion=opinion.strip(),
        step_result=transition.step_result,
        conclusion=transition.conclusion,
    )
    audit_record(
        actor=actor,
        action=f"case.{action}",
        object_type="case",
        object_id=str(case.public_id),
        before={"state": before},
        after={"state": case.state},
        reason=opinion,
    )
