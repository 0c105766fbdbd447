"""Department staff's workbench (办件工作台): the scoped queue, a case with its timeline, clock and
the clerk's next steps, and the supervision list of cases near or past their limit.

What a clerk may see is part of the query (`cases.selectors`, `identity.access.scope`); another
department's case is answered with 404. Every step posts the version the clerk saw, so of two
clerks at once one wins and the other is told the case has just changed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.db.models import Q
from django.db.models.functions import Coalesce, Least
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from tongban.cases import assign, documents, intake, machine, materials, selectors
from tongban.cases import forms as apply_forms
from tongban.cases import services as cases
from tongban.cases.models import Case, CaseEvent, CorrectionNotice
from tongban.common.errors import DomainError, NotFound
from tongban.common.masking import mask_name
from tongban.common.pagination import BadCursor
from tongban.identity import access
from tongban.identity.models import Account
from tongban.org.calendar import CalendarUnknown, WorkCalendar
from tongban.org.models import Division
from tongban.web.console.access import console_view, forbidden
from tongban.web.console.views import not_found

PAGE_SIZE = 50
SUPERVISION_LIMIT = 200
CHANGED = "该办件刚刚已被他人处理，请查看最新状态后再操作。"

# Filter tabs of the queue: key, label, states.
TABS: list[tuple[str, str, list[str]]] = [
    ("all", "全部", []),
    ("pre_review", "待预审", [machine.State.SUBMITTED]),
    ("correcting", "补正中", [machine.State.CORRECTING, machine.State.SUPPLEMENTING]),
    ("handling", "办理中", [machine.State.ACCEPTED]),
    ("special", "特别程序", [machine.State.SUSPENDED]),
    ("decided", "已决定", [machine.State.DECIDED, machine.State.CONCLUDED]),
    ("closed", "已结束", [machine.State.DELIVERED, machine.State.REFUSED, machine.State.WITHDRAWN]),
]
# Who-filters of the queue: key, label.
WHO = [("all", "全部"), ("mine", "我认领的"), ("unclaimed", "未认领")]
LIGHT_LABELS = {"green": "绿灯 · 正常", "yellow": "黄灯 · 临近期限", "red": "红灯 · 已超期", "none": ""}
# States whose current step has a limit of its own (Case.step_due): pre-review, review, certificate.
STEP_WATCHED = (machine.State.SUBMITTED, machine.State.ACCEPTED, machine.State.SUPPLEMENTING, machine.State.DECIDED)
ACTOR_KINDS = {"applicant": "申请人", "clerk": "工作人员", "system": "系统"}


def _today() -> dt.date:
    return timezone.localdate(timezone.now(), cases.LOCAL)


def _yellow_days() -> int:
    return int(getattr(settings, "CLOCK_YELLOW_WORKING_DAYS", 1))


def _light(calendar: WorkCalendar, due_on: dt.date | None, today: dt.date) -> str:
    """`clock.light` over one calendar snapshot, so a page of cases costs no query per row."""
    if due_on is None:
        return "none"
    if today > due_on:
        return "red"
    try:
        left = calendar.working_days_between(today, due_on)
    except (CalendarUnknown, ValueError):
        return "green"
    return "yellow" if left <= _yellow_days() else "green"


def _pre_review_due(calendar: WorkCalendar, case: Case) -> dt.date | None:
    """§32's last day for the current submission, over one calendar snapshot (no query per row)."""
    if case.submitted_at is None:
        return None
    submitted_on = timezone.localdate(case.submitted_at, cases.LOCAL)
    try:
        return calendar.add_working_days(submitted_on, cases.PRE_REVIEW_WORKING_DAYS)
    except (CalendarUnknown, ValueError):
        return None


def due_of(calendar: WorkCalendar, case: Case) -> dt.date | None:
    """The nearest limit the case's current step must meet: pre-review (§32, or the step's own
    limit), the legal limit while the clock runs (and the review step's own limit), the certificate
    after the decision (§44). Suspended and closed cases have none."""
    state = machine.State(case.state)
    if state == machine.State.SUBMITTED:
        dues = [case.step_due or _pre_review_due(calendar, case)]
    elif state in machine.CLOCK_RUNS:
        dues = [case.due_legal if case.accepted_on else None, case.step_due]
    elif state == machine.State.DECIDED:
        dues = [case.step_due]
    else:
        return None
    present = [d for d in dues if d is not None]
    return min(present) if present else None


@dataclass
class Row:
    case: Case
    item: str
    applicant: str
    assignee: str
    submitted_at: Any
    due: dt.date | None
    light: str
    light_label: str
    state_label: str


def _rows(items: list[Case], today: dt.date) -> list[Row]:
    """Rows for the queue and the supervision list: applicants and assignees in one query, lights
    from one calendar."""
    ids = {c.applicant_id for c in items} | {c.assignee_id for c in items if c.assignee_id}
    names = dict(Account.objects.filter(pk__in=ids).values_list("pk", "display_name")) if ids else {}
    calendar = WorkCalendar() if items else None
    rows = []
    for case in items:
        due = due_of(calendar, case) if calendar is not None else None
        light = _light(calendar, due, today) if calendar is not None else "none"
        rows.append(
            Row(
                case=case,
                item=case.implementation.base.name,
                applicant=mask_name(names.get(case.applicant_id, "")) or "—",
                assignee=names.get(case.assignee_id, "") if case.assignee_id else "",
                submitted_at=case.submitted_at,
                due=due,
                light=light,
                light_label=LIGHT_LABELS[light],
                state_label=machine.LABELS[machine.State(case.state)],
            )
        )
    return rows


# --- queue ----------------------------------------------------------------------------------------


def _divisions(account: Any) -> list[Division]:
    """The divisions of the departments in the clerk's reach (operators: those with departments)."""
    departments = access.departments_for(account)
    return list(Division.objects.filter(departments__in=departments.values("pk")).distinct().order_by("code")[:200])


@console_view
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    tab = request.GET.get("state", "all")
    states = next((s for key, _label, s in TABS if key == tab), None)
    if states is None:
        tab, states = "all", []
    who = request.GET.get("who", "all")
    if who not in dict(WHO):
        who = "all"
    divisions = _divisions(request.user)
    division = request.GET.get("division", "")
    if division not in {d.code for d in divisions}:
        division = ""
    cursor = request.GET.get("cursor") or None
    filters = {"state": tab, "who": who, **({"division": division} if division else {})}
    try:
        page = selectors.work_queue(
            account=request.user,
            states=[str(s) for s in states],
            cursor=cursor,
            limit=PAGE_SIZE,
            division=division or None,
            assignee=request.user if who == "mine" else None,
            unclaimed=who == "unclaimed",
        )
    except BadCursor as exc:
        messages.error(request, exc.message)
        return redirect(f"{request.path}?{urlencode(filters)}")
    return render(
        request,
        "workbench/queue.html",
        {
            "title": "办件工作台",
            "section": "workbench",
            "tabs": [(key, label, urlencode({**filters, "state": key})) for key, label, _s in TABS],
            "tab": tab,
            "whos": [(key, label, urlencode({**filters, "who": key})) for key, label in WHO],
            "who": who,
            "divisions": divisions,
            "division": division,
            "rows": _rows(page.items, _today()),
            "next_cursor": page.next_cursor,
            "first_page": cursor is None,
            "filters": urlencode(filters),
        },
    )


# --- supervision ----------------------------------------------------------------------------------


@console_view
@require_GET
def supervision(request: HttpRequest) -> HttpResponse:
    """Yellow and red cases of the clerk's departments (operators: all), earliest limit first: the
    legal limit while the clock runs, each step's own limit (pre-review §32, review, certificate
    §44), and pre-review of submissions from before step limits were kept."""
    today = _today()
    calendar = WorkCalendar()
    try:
        # due ≤ upto ⇔ at most `yellow` working days are left (clock.light's yellow rule).
        upto = calendar.add_working_days(today, _yellow_days() + 1) - dt.timedelta(days=1)
    except (CalendarUnknown, ValueError):
        upto = today
    # A submission without a step limit: its §32 day is at least five working days (a week) after it arrived.
    old_enough = timezone.now() - dt.timedelta(days=cases.PRE_REVIEW_WORKING_DAYS)
    qs = access.scope(Case.objects.all(), request.user, field="department")
    qs = (
        qs.filter(
            Q(state__in=[str(s) for s in machine.CLOCK_RUNS], due_legal__isnull=False, due_legal__lte=upto)
            | Q(state__in=[str(s) for s in STEP_WATCHED], step_due__isnull=False, step_due__lte=upto)
            | Q(state=machine.State.SUBMITTED, step_due__isnull=True, submitted_at__lte=old_enough)
        )
        .select_related("implementation__base")
        .annotate(nearest=Least(Coalesce("step_due", "due_legal"), Coalesce("due_legal", "step_due")))
        .order_by("nearest", "id")
    )
    items = list(qs[: SUPERVISION_LIMIT + 1])
    rows = [row for row in _rows(items[:SUPERVISION_LIMIT], today) if row.light in ("yellow", "red")]
    rows.sort(key=lambda row: (row.due or today, row.case.pk))
    return render(
        request,
        "workbench/supervision.html",
        {
            "title": "督办预警",
            "section": "supervision",
            "rows": rows,
            "truncated": len(items) > SUPERVISION_LIMIT,
            "limit": SUPERVISION_LIMIT,
        },
    )


# --- one case -------------------------------------------------------------------------------------


def _case(request: HttpRequest, public_id: Any) -> Case | None:
    """The case if it lies in the clerk's reach; another department's case looks like no case."""
    return selectors.case_get_for_staff(account=request.user, case_id=str(public_id))


def _missing(request: HttpRequest) -> HttpResponse:
    return not_found(request, "没有找到这个办件，或它不属于您所在部门。")


def _clock(case: Case, today: dt.date) -> dict[str, Any]:
    calendar = WorkCalendar()
    deadline = cases.pre_review_deadline(case) if case.state == machine.State.SUBMITTED else None
    warning = ""
    if deadline is not None:
        if today > deadline:
            warning = "已超过预审期限（行政许可法第三十二条：五个工作日），逾期未告知补正的视为受理。"
        else:
            try:
                left = calendar.working_days_between(today, deadline)
            except (CalendarUnknown, ValueError):
                left = None
            if left is not None and left <= _yellow_days():
                warning = "预审期限（五个工作日）即将届满，请尽快受理或一次性告知补正。"
    due = due_of(calendar, case)
    light = _light(calendar, due, today)
    return {
        "pre_review_deadline": deadline,
        "pre_review_warning": warning,
        "due": due,
        "light": light,
        "light_label": LIGHT_LABELS[light],
    }


def _events(case: Case) -> list[dict[str, Any]]:
    rows = []
    for event in CaseEvent.objects.filter(case=case).select_related("actor").order_by("at", "id"):
        transition = machine.TRANSITIONS.get(event.action)
        rows.append(
            {
                "label": transition.label if transition else event.action,
                "actor": str(event.actor) if event.actor else ACTOR_KINDS.get(event.actor_kind, event.actor_kind),
                "actor_kind": ACTOR_KINDS.get(event.actor_kind, event.actor_kind),
                "opinion": event.opinion,
                "at": event.at,
                "step_result": machine.STEP_RESULTS.get(event.step_result) if event.step_result is not None else "",
                "step_code": event.step_result,
                "conclusion": machine.CONCLUSIONS.get(event.conclusion) if event.conclusion is not None else "",
                "conclusion_code": event.conclusion,
                "special": machine.SPECIAL_STEPS.get(event.special_step) if event.special_step is not None else "",
                "special_code": event.special_step,
                "state": machine.LABELS.get(machine.State(event.to_state), event.to_state) if event.to_state else "",
            }
        )
    return rows


def _form_rows(case: Case) -> list[tuple[str, str]]:
    data = case.form_data if isinstance(case.form_data, dict) else {}
    labels = case.form.schema.get("properties", {}) if case.form_id and case.form is not None else {}
    rows = []
    for key, value in data.items():
        label = str((labels.get(key) or {}).get("title") or key)
        text = ("是" if value else "否") if isinstance(value, bool) else value if isinstance(value, str) else str(value)
        rows.append((label, text))
    return rows


def _materials(case: Case) -> list[str]:
    return list(case.implementation.base.materials.values_list("name", flat=True))


# The steps with their own forms on the page (not the generic opinion form).
OWN_FORMS = frozenset({"request_correction", "suspend", "deliver"})
SUSPENSION_CHOICES = [(code, machine.SPECIAL_STEPS[code]) for code in sorted(machine.SUSPENSION_STEPS)]


def _render_case(
    request: HttpRequest, case: Case, *, status: int = 200, error: str = "", changed: bool = False, posted: Any = None
) -> HttpResponse:
    today = _today()
    user = request.user
    actions = machine.allowed(machine.State(case.state), machine.Actor.CLERK)
    names = _materials(case)
    posted = posted or {}
    material_rows = [
        {
            "index": i,
            "name": name,
            "checked": bool(posted.get(f"m-{i}-selected")),
            "reason": posted.get(f"m-{i}-reason", ""),
            "new": bool(posted.get(f"m-{i}-new")),
        }
        for i, name in enumerate(names)
    ]
    try:
        assign.act_check(user, case)
        may_act, read_only_reason = True, ""
    except DomainError as exc:
        may_act, read_only_reason = False, exc.message
    assignee = Account.objects.filter(pk=case.assignee_id).first() if case.assignee_id else None
    manages = assign.may_manage(user, case.department_id)
    action_names = {t.action for t in actions}
    return render(
        request,
        "workbench/case.html",
        {
            "title": f"办件 {case.code or ''}",
            "section": "workbench",
            "case": case,
            "state_label": machine.LABELS[machine.State(case.state)],
            "conclusion_label": machine.CONCLUSIONS.get(case.conclusion) if case.conclusion is not None else "",
            "applicant": mask_name(case.applicant.display_name) or "—",
            "form_rows": _form_rows(case),
            "events": _events(case),
            "clock": _clock(case, today),
            "actions": [t for t in actions if t.action not in OWN_FORMS],
            "can_correct": "request_correction" in action_names,
            "can_suspend": "suspend" in action_names,
            "can_deliver": "deliver" in action_names,
            "suspension_choices": SUSPENSION_CHOICES,
            "chosen_special": str(posted.get("special_step", "")),
            "delivery_choices": Case.Delivery.choices,
            "chosen_delivery": str(posted.get("method", case.delivery_method)),
            "delivery_address": posted.get("address", case.delivery_address),
            "material_rows": material_rows,
            "slots": materials.material_slots(case),
            "documents": documents.documents_of(case),
            "round": case.submission_round,
            "later_round": case.submission_round > 1,
            "notices": list(CorrectionNotice.objects.filter(case=case).order_by("submission_round")),
            "error": error,
            "changed": changed,
            "may_act": may_act,
            "read_only_reason": read_only_reason,
            "assignee": assign.name_of(assignee),
            "mine": case.assignee_id == user.pk,
            "may_claim": not case.assignee_id and may_act and case.state not in machine.TERMINAL,
            "may_release": bool(case.assignee_id) and (case.assignee_id == user.pk or manages),
            "may_reassign": manages and case.state not in machine.TERMINAL,
            "staff": assign.assignable_staff(case) if manages else [],
            "intake_by": assign.name_of(Account.objects.filter(pk=case.intake_by_id).first()) if case.intake_by_id else "",
        },
        status=status,
    )


@console_view
@require_GET
def case_detail(request: HttpRequest, public_id: Any) -> HttpResponse:
    case = _case(request, public_id)
    return _render_case(request, case) if case is not None else _missing(request)


def _version(request: HttpRequest) -> int | None:
    try:
        return int(request.POST.get("expected_version", ""))
    except ValueError:
        return None


def _failed(request: HttpRequest, case: Case, exc: DomainError) -> HttpResponse:
    case.refresh_from_db()
    if exc.code == "case_changed":
        return _render_case(request, case, status=409, changed=True)
    return _render_case(request, case, status=exc.status if exc.status >= 400 else 400, error=exc.message, posted=request.POST)


def _special(request: HttpRequest) -> int | None:
    raw = request.POST.get("special_step", "")
    try:
        return int(raw) if raw else None
    except ValueError:
        return -1  # refused by the service with its own message


@console_view
@require_POST
def case_action(request: HttpRequest, public_id: Any) -> HttpResponse:
    case = _case(request, public_id)
    if case is None:
        return _missing(request)
    version = _version(request)
    action = request.POST.get("action", "")
    transition = machine.TRANSITIONS.get(action)
    if version is None or transition is None or transition.actor != machine.Actor.CLERK or action in ("request_correction", "deliver"):
        return _render_case(request, case, status=400, error="请求不完整，请在页面上重新选择操作。")
    try:
        assign.case_handle(
            actor=request.user,
            case_id=str(case.public_id),
            action=action,
            expected_version=version,
            opinion=request.POST.get("opinion", ""),
            special_step=_special(request) if action == "suspend" else None,
        )
    except DomainError as exc:
        return _failed(request, case, exc)
    messages.success(request, f"已完成：{transition.label}。")
    return redirect("workbench:case", public_id=case.public_id)


@console_view
@require_POST
def case_correction(request: HttpRequest, public_id: Any) -> HttpResponse:
    """The one-time complete correction notice: every ticked material with its reason, in one post."""

    def notify(case: Case, version: int | None) -> str:
        problems = [
            {
                "material": name,
                "reason": request.POST.get(f"m-{i}-reason", ""),
                "new_in_correction": bool(request.POST.get(f"m-{i}-new")),
            }
            for i, name in enumerate(_materials(case))
            if request.POST.get(f"m-{i}-selected")
        ]
        assign.correction_handle(actor=request.user, case_id=str(case.public_id), expected_version=version or 0, problems=problems)
        return f"已一次性告知补正（共 {len(problems)} 项）。"

    return _handled(request, public_id, notify, versioned=True)


@console_view
@require_POST
def case_deliver(request: HttpRequest, public_id: Any) -> HttpResponse:
    """送达: the delivery method (courier: with the address) and the deliver step in one post."""

    def deliver(case: Case, version: int | None) -> str:
        assign.case_deliver(
            actor=request.user,
            case_id=str(case.public_id),
            expected_version=version or 0,
            method=request.POST.get("method"),
            address=request.POST.get("address", ""),
            note=request.POST.get("note", ""),
        )
        return "已送达。"

    return _handled(request, public_id, deliver, versioned=True)


def _handled(request: HttpRequest, public_id: Any, step: Any, *, versioned: bool = False) -> HttpResponse:
    """One posted step on a case in the clerk's reach: ``step(case, version)`` does it and returns
    the note for the clerk; a refusal shows the case again with the reason. ``versioned`` steps
    need the version the clerk saw."""
    case = _case(request, public_id)
    if case is None:
        return _missing(request)
    version = _version(request)
    if versioned and version is None:
        return _render_case(request, case, status=400, error="请求不完整，请在页面上重新填写。")
    try:
        note = step(case, version)
    except DomainError as exc:
        return _failed(request, case, exc)
    messages.success(request, note)
    return redirect("workbench:case", public_id=case.public_id)


@console_view
@require_POST
def case_claim(request: HttpRequest, public_id: Any) -> HttpResponse:
    def claim(case: Case, _version: int | None) -> str:
        assign.case_claim(actor=request.user, case_id=str(case.public_id))
        return "已认领。"

    return _handled(request, public_id, claim)


@console_view
@require_POST
def case_release(request: HttpRequest, public_id: Any) -> HttpResponse:
    def release(case: Case, _version: int | None) -> str:
        assign.case_release(actor=request.user, case_id=str(case.public_id))
        return "已释放，办件回到本部门待认领队列。"

    return _handled(request, public_id, release)


@console_view
@require_POST
def case_reassign(request: HttpRequest, public_id: Any) -> HttpResponse:
    def reassign(case: Case, _version: int | None) -> str:
        done = assign.case_reassign(
            actor=request.user,
            case_id=str(case.public_id),
            to_account_id=request.POST.get("to", ""),
            reason=request.POST.get("reason", ""),
        )
        target = Account.objects.filter(pk=done.assignee_id or 0).first()
        return f"已改派给{assign.name_of(target)}。"

    return _handled(request, public_id, reassign)


# --- one-window intake ----------------------------------------------------------------------------

INTAKE_STASH = "workbench-intake-receipt"


def _intake_fields(form: Any, posted: Any) -> list[dict[str, Any]]:
    props = apply_forms.ordered(form.schema, form.layout)[0].get("properties", {})
    required = set(form.schema.get("required", []))
    prefilled = apply_forms.prefill_fields(form)
    rows = []
    for name, spec in props.items():
        if name in prefilled:
            continue  # filled from the applicant's ID card above
        rows.append(
            {
                "name": name,
                "id": f"f-{name}",
                "label": str(spec.get("title") or name),
                "type": spec.get("type", "string"),
                "enum": list(spec.get("enum") or []),
                "required": name in required,
                "max": spec.get("maxLength"),
                "value": posted.get(name, ""),
            }
        )
    return rows


def _intake_forbidden(request: HttpRequest) -> HttpResponse:
    return forbidden(request, "只有窗口受理人员可以登记现场申请（综合窗口）。")


@console_view
def intake_start(request: HttpRequest) -> HttpResponse:
    """综合窗口: choose the item, identify the citizen, fill the form, scan the materials, submit."""
    choices = intake.intake_implementations(request.user)
    if not choices:
        return _intake_forbidden(request)
    source = request.POST if request.method == "POST" else request.GET
    code = source.get("impl", "")
    if not code:
        return render(
            request,
            "workbench/intake_choose.html",
            {"title": "综合窗口受理", "section": "intake", "choices": choices, "recent": intake.intake_cases(request.user)},
        )
    try:
        implementation = intake.intake_implementation(request.user, code)
        form = apply_forms.form_current(implementation)
        if form is None:
            raise NotFound("该事项暂未配置申请表，请联系部门管理员在运营后台配置后再受理。", code="form_unknown")
    except DomainError as exc:
        return not_found(request, exc.message)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        item = intake.item_materials(implementation)
        scans = {m.pk: request.FILES.getlist(f"scan-{m.pk}") for m in item}
        paper = [m.pk for m in item if request.POST.get(f"paper-{m.pk}")]
        try:
            result = intake.intake_submit(
                clerk=request.user,
                implementation=implementation,
                token=request.POST.get("token", ""),
                applicant_name=request.POST.get("applicant_name", ""),
                applicant_id_number=request.POST.get("applicant_id_number", ""),
                applicant_mobile=request.POST.get("applicant_mobile", ""),
                data=dict(request.POST.items()),
                scans=scans,
                paper=paper,
                commitment=request.POST.get("commitment") == "1",
                delivery_method=request.POST.get("delivery_method"),
                delivery_address=request.POST.get("delivery_address", ""),
            )
        except DomainError as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            errors = dict(details.get("fields") or {}) or {"form": exc.message}
            status = exc.status if exc.status >= 400 else 400
        else:
            if result.query_password:
                request.session[INTAKE_STASH] = {"case": str(result.case.public_id), "password": result.query_password}
            return redirect("workbench:intake_receipt", public_id=result.case.public_id)
    posted = request.POST if request.method == "POST" else {}
    return render(
        request,
        "workbench/intake.html",
        {
            "title": "综合窗口受理",
            "section": "intake",
            "implementation": implementation,
            "token": posted.get("token") or str(uuid.uuid4()),
            "fields": _intake_fields(form, posted),
            "materials": intake.item_materials(implementation),
            "paper_checked": {int(k[6:]) for k in posted if k.startswith("paper-") and k[6:].isdigit()},
            "commitment": bool(form.layout.get("commitment")),
            "commitment_text": str(form.layout.get("commitment_text") or apply_forms.DEFAULT_COMMITMENT),
            "commitment_checked": posted.get("commitment") == "1",
            "delivery_choices": Case.Delivery.choices,
            "chosen_delivery": str(posted.get("delivery_method", Case.Delivery.WINDOW.value)),
            "posted": posted,
            "errors": errors,
            "limits": materials.limits_text(),
        },
        status=status,
    )


@console_view
@require_GET
def intake_receipt(request: HttpRequest, public_id: Any) -> HttpResponse:
    """The receipt to print for the citizen: the registration code and, once, the query password."""
    case = _case(request, public_id)
    if case is None or case.intake_by_id != request.user.pk:
        return _missing(request)
    stash = request.session.get(INTAKE_STASH) or {}
    password = ""
    if stash.get("case") == str(case.public_id):
        password = str(stash.get("password", ""))
        del request.session[INTAKE_STASH]  # shown once: it is kept only as a hash
    return render(
        request,
        "workbench/intake_receipt.html",
        {
            "title": "受理回执",
            "section": "intake",
            "case": case,
            "applicant": mask_name(case.applicant.display_name) or "—",
            "password": password,
            "lookup_url": f"{settings.PUBLIC_BASE_URL}/cases/lookup/",
            "department": case.department.name if case.department is not None else "",
            "slots": materials.material_slots(case),
        },
    )
