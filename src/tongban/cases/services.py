"""Case writes: drafts, submission with its registration code, and every transition of the state
machine with the statutory clock kept in step. Each write is one transaction with a timeline event
and an audit row; clerks act with the version they saw, so of two clerks at once one wins and the
other gets a clear conflict."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from tongban.cases import clock, machine, webhooks
from tongban.cases.models import Case, CaseDaySequence, CaseEvent, CorrectionNotice
from tongban.catalog.models import Implementation
from tongban.common.audit import audit_record
from tongban.common.errors import Conflict, NotFound, ValidationFailed
from tongban.identity.models import Account
from tongban.org.calendar import CalendarUnknown, WorkCalendar

LOCAL = ZoneInfo("Asia/Shanghai")
MAX_DAILY = 9999
PRE_REVIEW_WORKING_DAYS = 5  # §32: notify incomplete materials within five working days, or it counts as accepted
CERTIFICATE_WORKING_DAYS = 10  # §44: the certificate within ten working days of the decision


def next_case_code(implementation_code: str, day: dt.date) -> str:
    """The next 43-character registration code. Call inside the submitting transaction: one
    upsert takes the number and keeps the sequence row locked until the transaction ends, so
    concurrent submissions queue for a number and never share one (a rollback leaves a gap)."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("next_case_code must run inside a transaction")
    table = connection.ops.quote_name(CaseDaySequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (implementation_code, day, last) VALUES (%s, %s, 1) "  # the model's own table name
            f"ON CONFLICT (implementation_code, day) DO UPDATE SET last = {table}.last + 1 RETURNING last",
            [implementation_code, day],
        )
        number = cursor.fetchone()[0]
    if number > MAX_DAILY:
        raise Conflict("该事项今日办件编号已用完，请明日再提交或联系平台运营人员。", code="case_numbers_exhausted")
    return f"{implementation_code}{day:%Y%m%d}{number:04d}"


def case_draft(*, applicant: Account, implementation: Implementation, form_data: dict[str, Any] | None = None) -> Case:
    return Case.objects.create(applicant=applicant, implementation=implementation, form_data=form_data or {})


def case_submit(*, applicant: Account, case_id: str, channel: int = Case.Channel.ONLINE) -> Case:
    """Submit a draft: it gets its registration code. Submitting again has no second effect."""
    with transaction.atomic():
        # Lock the case only: submissions of one item must not queue on its implementation row.
        found = Case.objects.select_for_update(of=("self",)).select_related("implementation__base")
        case = found.filter(public_id=case_id, applicant=applicant).first()
        if case is None:
            raise NotFound("没有找到这份申请。", code="case_unknown")
        if case.state != machine.State.DRAFT:
            return case  # a repeated submit: the first one stands
        case.applicant = applicant
        today = timezone.localdate(timezone.now(), LOCAL)
        case.code = next_case_code(case.implementation.code, today)
        case.channel = channel
        case.submitted_at = timezone.now()
        case.legal_limit_days = case.implementation.legal_limit
        case.promised_limit_days = case.implementation.promised_limit
        case.submission_round = 1
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
    special_step: int | None = None,
) -> Case:
    """Take one step of the state machine. ``on`` is the local day it happens (today by default).
    A suspension names its special procedure (``special_step``: 2 听证, 3 公示, 4 核实, 5 挂起)."""
    kind = machine.Actor(actor_kind)
    with transaction.atomic():
        case = Case.objects.select_for_update().filter(public_id=case_id).first()
        if case is None:
            raise NotFound("没有找到这个办件。", code="case_unknown")
        if case.version != expected_version:
            raise Conflict("该办件刚刚已被他人处理，请刷新后查看最新状态。", code="case_changed")
        _apply(case, action, kind, actor, opinion, on=on, special_step=special_step)
    return case


def _notify(case: Case, transition: machine.Transition) -> None:
    """A message to the applicant at every node (template case-progress), in this transaction. A
    case never submitted (a bundle's waiting part) has no code yet and no node to report."""
    from tongban.messaging.services import message_send

    if not case.code:
        return

    item = case.implementation.base.name
    message_send(
        recipient=case.applicant,
        template="case-progress",
        data={
            "item": item[:30],
            "case_code": case.code,
            "step": machine.LABELS[machine.State(case.state)][:12],
            "link": f"/my/cases/{case.public_id}/",
        },
        reason=f"办件进度：{transition.label}",
    )


def _special_step(action: str, special_step: int | None) -> int | None:
    """The special step (STANDARDS.md) this action records, checked."""
    if action == "suspend":
        chosen = special_step if special_step is not None else 5
        if chosen not in machine.SUSPENSION_STEPS:
            raise ValidationFailed("请选择特别程序的种类（听证、公示、核实或其他挂起）。", code="special_step_invalid")
        return chosen
    if special_step is not None:
        raise ValidationFailed("只有进入特别程序时才需要选择特别程序种类。", code="special_step_invalid")
    return machine.SPECIAL_STEPS_OF.get(action)


def _step_limit(case: Case, step: str, default: int | None) -> int | None:
    limits = case.implementation.step_limits or {}
    value = limits.get(step, default)
    return int(value) if isinstance(value, int) and value > 0 else default


def _step_due(case: Case, day: dt.date, calendar: WorkCalendar) -> dt.date | None:
    """The limit of the step the case is now in: pre-review (§32: 5 working days unless the
    implementation promises fewer), review (where the implementation sets one), the certificate
    after the decision (§44: 10 working days)."""
    state = machine.State(case.state)
    if state == machine.State.SUBMITTED:
        limit = _step_limit(case, "pre_review", PRE_REVIEW_WORKING_DAYS)
    elif state == machine.State.ACCEPTED:
        limit = _step_limit(case, "review", None)
    elif state == machine.State.DECIDED:
        limit = _step_limit(case, "certificate", CERTIFICATE_WORKING_DAYS)
    else:
        return None
    if not limit:
        return None
    try:
        return clock.due(day, limit, calendar=calendar)
    except CalendarUnknown:
        # A step's own limit is a target, not a legal fact: without next year's calendar it waits
        # (the legal limits still refuse to be guessed, and operators are warned in the console).
        return None


def _apply(
    case: Case,
    action: str,
    kind: machine.Actor,
    actor: Account | None,
    opinion: str,
    on: dt.date | None = None,
    special_step: int | None = None,
) -> None:
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
    if action == "resubmit":
        from tongban.cases.materials import corrections_outstanding

        outstanding = corrections_outstanding(case)
        if outstanding:
            raise ValidationFailed(
                f"请先为以下材料上传补正后的文件，再重新提交：{'、'.join(outstanding)}。",
                code="correction_files_missing",
                details={"materials": outstanding},
            )
    special = _special_step(action, special_step)
    day = on or timezone.localdate(timezone.now(), LOCAL)
    calendar = WorkCalendar()  # one snapshot for every limit of this step, read in its transaction
    before = case.state
    if action in ("accept", "deem_accepted"):
        case.accepted_on = day
    elif action == "resubmit":
        case.submission_round += 1
    elif action == "suspend":
        case.suspended_since = day
    elif action == "resume" and case.suspended_since is not None:
        case.suspended_working_days += clock.suspended_days(case.suspended_since, day, calendar=calendar)
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

        def due_after(limit: int) -> dt.date:
            return clock.due(
                case.accepted_on,  # type: ignore[arg-type]
                limit,
                extension_days=case.extension_days,
                suspended_working_days=suspended,
                calendar=calendar,
            )

        case.due_legal = due_after(case.legal_limit_days)
        if case.promised_limit_days:
            case.due_promised = due_after(case.promised_limit_days)
    if transition.target != before or action == "extend":
        # A new step or a moved limit: the step's own limit, and the clerks are reminded afresh.
        if transition.target != before:
            case.step_due = _step_due(case, day, calendar)
        case.reminded_stage = 0
    case.version += 1
    case.save()
    event = CaseEvent.objects.create(
        case=case,
        action=action,
        from_state=before,
        to_state=case.state,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_kind=kind.value,
        opinion=opinion.strip(),
        step_result=transition.step_result,
        conclusion=transition.conclusion,
        special_step=special,
        department_id=case.department_id,
    )
    if action in ("accept", "deem_accepted", "refuse"):  # the written receipt (§32), in this transaction
        from tongban.cases.documents import receipt_generate

        receipt_generate(case, event)
    webhooks.case_changed(case, event)  # the department systems' webhooks (new and changed cases), in this transaction
    audit_record(
        actor=actor,
        action=f"case.{action}",
        object_type="case",
        object_id=str(case.public_id),
        before={"state": before},
        after={"state": case.state},
        reason=opinion,
    )
    _notify(case, transition)
    if case.bundle_application_id and case.state in {machine.State.CONCLUDED, machine.State.DECIDED} | machine.TERMINAL:
        from tongban.cases.bundles import bundle_advance

        bundle_advance(case.bundle_application)  # type: ignore[arg-type]


def correction_notice(*, actor: Account, case_id: str, expected_version: int, problems: list[dict[str, Any]]) -> Case:
    """Send the one-time complete correction notice: every problem of this submission at once.
    A second notice on the same submission is refused; after a corrected submission a new notice
    may only name problems that the correction itself introduced."""
    clean: list[dict[str, Any]] = []
    for problem in problems:
        material = str(problem.get("material", "")).strip()
        reason = str(problem.get("reason", "")).strip()
        if not material or not reason:
            raise ValidationFailed("每一项补正要求都要写明材料和原因。", code="problem_incomplete")
        clean.append({"material": material, "reason": reason, "new_in_correction": bool(problem.get("new_in_correction"))})
    if not clean:
        raise ValidationFailed("补正告知至少要列出一项问题。", code="problems_required")
    with transaction.atomic():
        case = Case.objects.select_for_update().select_related("implementation__base").filter(public_id=case_id).first()
        if case is None:
            raise NotFound("没有找到这个办件。", code="case_unknown")
        known = set(case.implementation.base.materials.values_list("name", flat=True))
        unknown = [p["material"] for p in clean if p["material"] not in known]
        if unknown:
            raise ValidationFailed(f"这些材料不在本事项的材料清单中：{'、'.join(unknown)}。", code="material_unknown")
        if CorrectionNotice.objects.filter(case=case, submission_round=case.submission_round).exists():
            raise Conflict("本次提交已经一次性告知过补正内容，不能再次告知。", code="notice_already_sent")
        if case.submission_round > 1 and not all(p["new_in_correction"] for p in clean):
            raise Conflict("补正后只能就补正材料新出现的问题再次告知；原有问题应在第一次告知时一并列出。", code="notice_not_new")
        if case.version != expected_version:
            raise Conflict("该办件刚刚已被他人处理，请刷新后查看最新状态。", code="case_changed")
        opinion = "；".join(f"{p['material']}：{p['reason']}" for p in clean)
        _apply(case, "request_correction", machine.Actor.CLERK, actor, opinion)
        CorrectionNotice.objects.create(case=case, submission_round=case.submission_round, problems=clean, issued_by=actor)
    return case


def pre_review_deadline(case: Case) -> dt.date | None:
    """The last day to notify corrections for the current submission (§32)."""
    if case.submitted_at is None:
        return None
    submitted_on = timezone.localdate(case.submitted_at, LOCAL)
    return clock.due(submitted_on, PRE_REVIEW_WORKING_DAYS)


def cases_deem_accepted(*, today: dt.date | None = None, limit: int = 500) -> int:
    """§32: a submission not notified within five working days counts as accepted from that day.
    Run by the worker's scheduler; bounded and idempotent."""
    today = today or timezone.localdate(timezone.now(), LOCAL)
    done = 0
    for case in Case.objects.filter(state=machine.State.SUBMITTED).order_by("submitted_at")[:limit]:
        try:
            deadline = pre_review_deadline(case)
        except CalendarUnknown:
            continue  # the five days run into a year not entered yet: counted once operators enter it
        if deadline is not None and today > deadline and case.submitted_at is not None:
            # "自收到申请材料之日起即为受理": accepted as of the day the materials arrived.
            received = timezone.localdate(case.submitted_at, LOCAL)
            try:
                case_act(
                    actor=None,
                    case_id=str(case.public_id),
                    action="deem_accepted",
                    expected_version=case.version,
                    actor_kind="system",
                    on=received,
                )
                done += 1
            except Conflict:
                continue  # a clerk acted at the same moment: theirs stands
    return done
