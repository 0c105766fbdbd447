"""Department staff's workbench (办件工作台): the scoped queue, a case with its timeline, clock and
the clerk's next steps, and the supervision list of cases near or past their limit.

What a clerk may see is part of the query (`cases.selectors`, `identity.access.scope`); another
department's case is answered with 404. Every step posts the version the clerk saw, so of two
clerks at once one wins and the other is told the case has just changed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from tongban.cases import machine, selectors
from tongban.cases import services as cases
from tongban.cases.models import Case, CaseEvent, CorrectionNotice
from tongban.common.errors import DomainError
from tongban.common.masking import mask_name
from tongban.common.pagination import BadCursor
from tongban.identity import access
from tongban.identity.models import Account
from tongban.org.calendar import CalendarUnknown, WorkCalendar
from tongban.web.console.access import console_view
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
LIGHT_LABELS = {"green": "绿灯 · 正常", "yellow": "黄灯 · 临近期限", "red": "红灯 · 已超期", "none": ""}
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


@dataclass
class Row:
    case: Case
    item: str
    applicant: str
    submitted_at: Any
    due: dt.date | None
    light: str
    light_label: str
    state_label: str


def _rows(items: list[Case], today: dt.date) -> list[Row]:
    """Rows for the queue and the supervision list: applicants in one query, lights from one calendar."""
    ids = {c.applicant_id for c in items}
    names = dict(Account.objects.filter(pk__in=ids).values_list("pk", "display_name")) if ids else {}
    calendar = WorkCalendar() if items else None
    rows = []
    for case in items:
        running = case.state in machine.CLOCK_RUNS
        due = case.due_legal if case.accepted_on else None
        light = _light(calendar, due, today) if running and calendar is not None else "none"
        rows.append(
            Row(
                case=case,
                item=case.implementation.base.name,
                applicant=mask_name(names.get(case.applicant_id, "")) or "—",
                submitted_at=case.submitted_at,
                due=due,
                light=light,
                light_label=LIGHT_LABELS[light],
                state_label=machine.LABELS[machine.State(case.state)],
            )
        )
    return rows


# --- queue ----------------------------------------------------------------------------------------


@console_view
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    tab = request.GET.get("state", "all")
    states = next((s for key, _label, s in TABS if key == tab), None)
    if states is None:
        tab, states = "all", []
    cursor = request.GET.get("cursor") or None
    try:
        page = selectors.work_queue(account=request.user, states=[str(s) for s in states], cursor=cursor, limit=PAGE_SIZE)
    except BadCursor as exc:
        messages.error(request, exc.message)
        return redirect(f"{request.path}?state={tab}")
    return render(
        request,
        "workbench/queue.html",
        {
            "title": "办件工作台",
            "section": "workbench",
            "tabs": [(key, label) for key, label, _s in TABS],
            "tab": tab,
            "rows": _rows(page.items, _today()),
            "next_cursor": page.next_cursor,
            "first_page": cursor is None,
        },
    )


# --- supervision ----------------------------------------------------------------------------------


@console_view
@require_GET
def supervision(request: HttpRequest) -> HttpResponse:
    """Yellow and red cases of the clerk's departments (operators: all), earliest due date first."""
    today = _today()
    calendar = WorkCalendar()
    try:
        # due ≤ upto ⇔ at most `yellow` working days are left (clock.light's yellow rule).
        upto = calendar.add_working_days(today, _yellow_days() + 1) - dt.timedelta(days=1)
    except (CalendarUnknown, ValueError):
        upto = today
    qs = access.scope(Case.objects.all(), request.user, field="implementation__department")
    qs = (
        qs.filter(state__in=[str(s) for s in machine.CLOCK_RUNS], due_legal__isnull=False, due_legal__lte=upto)
        .select_related("implementation__base")
        .order_by("due_legal", "id")
    )
    items = list(qs[: SUPERVISION_LIMIT + 1])
    return render(
        request,
        "workbench/supervision.html",
        {
            "title": "督办预警",
            "section": "supervision",
            "rows": _rows(items[:SUPERVISION_LIMIT], today),
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
            if left is not None and left <= 1:
                warning = "距预审期限（五个工作日）不足一个工作日，请尽快受理或一次性告知补正。"
    running = case.state in machine.CLOCK_RUNS
    light = _light(calendar, case.due_legal, today) if running else "none"
    return {
        "pre_review_deadline": deadline,
        "pre_review_warning": warning,
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
                "state": machine.LABELS.get(machine.State(event.to_state), event.to_state) if event.to_state else "",
            }
        )
    return rows


def _form_rows(case: Case) -> list[tuple[str, str]]:
    data = case.form_data if isinstance(case.form_data, dict) else {}
    return [(str(k), v if isinstance(v, str) else str(v)) for k, v in data.items()]


def _materials(case: Case) -> list[str]:
    return list(case.implementation.base.materials.values_list("name", flat=True))


def _render_case(
    request: HttpRequest, case: Case, *, status: int = 200, error: str = "", changed: bool = False, posted: Any = None
) -> HttpResponse:
    today = _today()
    actions = machine.allowed(machine.State(case.state), machine.Actor.CLERK)
    materials = _materials(case)
    posted = posted or {}
    material_rows = [
        {
            "index": i,
            "name": name,
            "checked": bool(posted.get(f"m-{i}-selected")),
            "reason": posted.get(f"m-{i}-reason", ""),
            "new": bool(posted.get(f"m-{i}-new")),
        }
        for i, name in enumerate(materials)
    ]
    return render(
        request,
        "workbench/case.html",
        {
            "title": f"办件 {case.code or ''}",
            "section": "workbench",
            "case": case,
            "state_label": machine.LABELS[machine.State(case.state)],
            "applicant": mask_name(case.applicant.display_name) or "—",
            "form_rows": _form_rows(case),
            "events": _events(case),
            "clock": _clock(case, today),
            "actions": [t for t in actions if t.action != "request_correction"],
            "can_correct": any(t.action == "request_correction" for t in actions),
            "material_rows": material_rows,
            "round": case.submission_round,
            "later_round": case.submission_round > 1,
            "notices": list(CorrectionNotice.objects.filter(case=case).order_by("submission_round")),
            "error": error,
            "changed": changed,
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


@console_view
@require_POST
def case_action(request: HttpRequest, public_id: Any) -> HttpResponse:
    case = _case(request, public_id)
    if case is None:
        return _missing(request)
    version = _version(request)
    action = request.POST.get("action", "")
    transition = machine.TRANSITIONS.get(action)
    if version is None or transition is None or transition.actor != machine.Actor.CLERK or action == "request_correction":
        return _render_case(request, case, status=400, error="请求不完整，请在页面上重新选择操作。")
    try:
        cases.case_act(
            actor=request.user,
            case_id=str(case.public_id),
            action=action,
            expected_version=version,
            opinion=request.POST.get("opinion", ""),
        )
    except DomainError as exc:
        return _failed(request, case, exc)
    messages.success(request, f"已完成：{transition.label}。")
    return redirect("workbench:case", public_id=case.public_id)


@console_view
@require_POST
def case_correction(request: HttpRequest, public_id: Any) -> HttpResponse:
    """The one-time complete correction notice: every ticked material with its reason, in one post."""
    case = _case(request, public_id)
    if case is None:
        return _missing(request)
    version = _version(request)
    if version is None:
        return _render_case(request, case, status=400, error="请求不完整，请在页面上重新填写。")
    problems = []
    for i, name in enumerate(_materials(case)):
        if request.POST.get(f"m-{i}-selected"):
            problems.append(
                {
                    "material": name,
                    "reason": request.POST.get(f"m-{i}-reason", ""),
                    "new_in_correction": bool(request.POST.get(f"m-{i}-new")),
                }
            )
    try:
        cases.correction_notice(actor=request.user, case_id=str(case.public_id), expected_version=version, problems=problems)
    except DomainError as exc:
        return _failed(request, case, exc)
    messages.success(request, f"已一次性告知补正（共 {len(problems)} 项）。")
    return redirect("workbench:case", public_id=case.public_id)
