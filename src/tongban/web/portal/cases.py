"""在线申请 and 我的办件: applying online (one page or several steps, all server-side, no
JavaScript needed), the receipt, the applicant's cases with their timelines and the steps asked of
them, and looking a case up by its code and query password without signing in.

Thin: cases.forms and cases.services keep every rule; another person's case is as missing as none."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tongban.cases import forms as apply_forms
from tongban.cases import machine
from tongban.cases import materials as case_materials
from tongban.cases import selectors as case_reads
from tongban.cases import services as case_services
from tongban.cases.models import ApplicationForm, Case, CorrectionNotice
from tongban.catalog import selectors as catalog
from tongban.common.errors import DomainError, ValidationFailed
from tongban.common.pagination import BadCursor
from tongban.common.ratelimit import rate_limited
from tongban.identity.models import Account
from tongban.web.context import visitor
from tongban.web.portal.account import citizen_required
from tongban.web.portal.files import limit_uploads
from tongban.web.portal.inbox import iso, when

LOOKUP_PER_MINUTE = 20
# What the applicant is asked to do next, per state, in plain words.
NEXT_STEP = {
    machine.State.DRAFT: "继续填写并提交申请",
    machine.State.SUBMITTED: "等待工作人员预审，无需操作",
    machine.State.CORRECTING: "按补正告知准备材料后重新提交",
    machine.State.ACCEPTED: "已受理，等待审查结果",
    machine.State.SUPPLEMENTING: "按要求补齐材料",
    machine.State.SUSPENDED: "特别程序中，等待通知",
    machine.State.DECIDED: "已作出决定，等待办结",
    machine.State.CONCLUDED: "已办结，等待送达",
    machine.State.DELIVERED: "已办完",
    machine.State.REFUSED: "已结束",
    machine.State.WITHDRAWN: "已结束",
}
# The applicant's own steps offered on the case page (as buttons), with their wording.
APPLICANT_ACTIONS = {"resubmit": "已补正，重新提交", "supplemented": "已补齐，提交材料", "withdraw": "撤回申请"}


def _me(request: HttpRequest) -> Account:
    account = visitor(request).citizen
    assert account is not None
    return account


def _label(state: str) -> str:
    return machine.LABELS.get(machine.State(state), state)


def _missing(request: HttpRequest, title: str, message: str) -> HttpResponse:
    back = (reverse("portal:my_cases"), "回到我的办件") if visitor(request).citizen else ("/", "回到首页")
    return render(request, "portal/error.html", {"title": title, "status": 404, "message": message, "back": back}, status=404)


def _case_missing(request: HttpRequest) -> HttpResponse:
    """One page for an unknown id and for someone else's case: nothing tells them apart."""
    return _missing(request, "没有找到这个办件", "这个办件不存在，或不属于当前登录的账号。请回到我的办件查看。")


# --- applying ------------------------------------------------------------------------------------------


def _posted(form: ApplicationForm, request: HttpRequest) -> dict[str, Any]:
    """The form's fields as posted (carried between steps as hidden inputs)."""
    data: dict[str, Any] = {}
    for name, spec in form.schema.get("properties", {}).items():
        if spec.get("type") == "boolean":
            if name in request.POST or f"{name}__shown" in request.POST:
                data[name] = request.POST.get(name, "") in apply_forms.TRUE_WORDS
        elif name in request.POST:
            data[name] = request.POST.get(name, "")
    return data


def _fields_view(form: ApplicationForm, names: list[str], data: dict[str, Any], locked: dict[str, str]) -> list[dict[str, Any]]:
    props = form.schema.get("properties", {})
    hints = form.layout.get("fields") or {}
    out = []
    for name in names:
        spec = props.get(name, {})
        hint = hints.get(name, {}) if isinstance(hints.get(name), dict) else {}
        kind = spec.get("type", "string")
        widget = "checkbox" if kind == "boolean" else "select" if "enum" in spec else "number" if kind == "integer" else "text"
        value = locked.get(name, data.get(name, ""))
        out.append(
            {
                "name": name,
                "label": apply_forms.field_label(form, name),
                "widget": widget,
                "value": "" if value is None else value,
                "options": [str(o) for o in spec.get("enum", [])],
                "maxlength": spec.get("maxLength", 0),
                "required": name in set(form.schema.get("required", [])),
                "hint": str(hint.get("hint", "")),
                "locked": name in locked,
            }
        )
    return out


MATERIALS_STEP = "上传申请材料"


def _materials_view(case: Case | None, impl: Any) -> list[dict[str, Any]]:
    """The item's material list with what this draft has for each (a draft not made yet: nothing)."""
    return [{"slot": s, "files": s.files} for s in case_materials.material_slots_for(impl.pk, case)]


def _material_action(request: HttpRequest, me: Account, impl: Any, data: dict[str, Any], token: str, go: str) -> tuple[str, dict[str, str]]:
    """Upload the chosen files, pick from the library or remove one, on the draft this form carries
    (made now if need be). Returns (a success note, errors by field)."""
    errors: dict[str, str] = {}
    notes: list[str] = []
    too_large: set[str] = getattr(request, "material_too_large", set())
    chosen = [(k, request.FILES[k]) for k in request.FILES if k.startswith("file-")]
    library_pick = go.startswith("library-") and request.POST.get(go, "")
    if not (chosen or too_large or library_pick or go.startswith("remove-")):
        if go == "upload":
            errors["materials"] = "请先选择要上传的文件。"
        return "", errors
    case = apply_forms.case_save_draft(applicant=me, implementation=impl, data=data, token=token)
    keep = request.POST.get("keep") == "1"
    names = {f"{prefix}{m.pk}": m.name for m in impl.base.materials.all() for prefix in ("file-", "library-")}
    for field in sorted(too_large):
        errors[field] = f"{names.get(field, '材料')}：{case_materials.too_large_text()}"
    for field, upload in chosen:
        try:
            case_materials.material_attach(actor=me, case=case, material_id=field.removeprefix("file-"), upload=upload, in_library=keep)
            notes.append(f"已上传“{case_materials.clean_name(upload.name)}”")
        except DomainError as exc:
            errors[field] = f"{names.get(field, '材料')}：{exc.message}"
    if library_pick:
        try:
            case_materials.material_attach(actor=me, case=case, material_id=go.removeprefix("library-"), library_file_id=str(library_pick))
            notes.append("已从材料库添加")
        except DomainError as exc:
            errors[go] = f"{names.get(go, '材料')}：{exc.message}"
    if go.startswith("remove-"):
        try:
            case_materials.material_remove(actor=me, case=case, case_material_id=go.removeprefix("remove-"))
            notes.append("已删除")
        except DomainError as exc:
            errors["materials"] = exc.message
    return "；".join(notes), errors


@csrf_exempt  # checked below, once the per-file size limit is in place (Django: upload handlers)
@never_cache
@citizen_required
@require_http_methods(["GET", "POST"])
def apply(request: HttpRequest, code: str) -> HttpResponse:
    if request.method == "POST":
        limit_uploads(request)
    return _apply(request, code)


@csrf_protect
def _apply(request: HttpRequest, code: str) -> HttpResponse:
    impl = catalog.implementation_get_published(code)
    form = apply_forms.form_current(impl) if impl else None
    if impl is None or form is None:
        return _missing(request, "暂未开通在线申请", "该事项不存在，或暂未开通在线申请。请查看办事指南了解其他办理方式。")
    me = _me(request)
    steps = apply_forms.steps_of(form)
    has_materials = impl.base.materials.exists()
    if has_materials:
        steps.append({"title": MATERIALS_STEP, "fields": []})
    materials_step = len(steps) - 1 if has_materials else -1
    locked = apply_forms.prefill(form, me)
    errors: dict[str, str] = {}
    step = 0
    commitment = False
    draft: Case | None = None
    if request.method == "GET":
        token = request.GET.get("draft", "")
        data: dict[str, Any] = {}
        if token:
            draft = case_reads.case_get_for_applicant(account=me, case_id=token)
            if draft is None or draft.implementation_id != impl.pk:
                return _case_missing(request)
            if draft.state != machine.State.DRAFT:
                return HttpResponseRedirect(reverse("portal:my_case", args=[draft.public_id]))
            data = dict(draft.form_data)
            if request.GET.get("step") == "materials" and has_materials:
                step = materials_step
        else:
            token = str(uuid.uuid4())
    else:
        token = request.POST.get("token", "")
        data = _posted(form, request)
        commitment = request.POST.get("commitment") == "1"
        try:
            step = max(0, min(int(request.POST.get("step", "0")), len(steps) - 1))
        except ValueError:
            step = 0
        go = request.POST.get("go", "")
        try:
            if step == materials_step and go not in ("draft", "back"):
                note, errors = _material_action(request, me, impl, data, token, go)
                if errors:
                    raise ValidationFailed("有些材料没有上传成功，请按提示处理。", details={"fields": errors})
                if note and go != "submit":
                    messages.success(request, note + "。")
                    return HttpResponseRedirect(reverse("portal:apply", args=[impl.code]) + f"?draft={token}&step=materials")
            if go == "draft":
                case = apply_forms.case_save_draft(applicant=me, implementation=impl, data=data, token=token)
                messages.success(request, "草稿已保存。您可以随时在“我的办件”中继续填写。")
                return HttpResponseRedirect(reverse("portal:my_case", args=[case.public_id]))
            if go == "back":
                step = max(0, step - 1)
            elif go == "next" and step < len(steps) - 1:
                apply_forms.form_validate(form, {**data, **locked}, only=[n for n in steps[step]["fields"] if n not in locked])
                step += 1
            elif go == "submit":
                case = apply_forms.case_apply(
                    applicant=me,
                    implementation=impl,
                    data=data,
                    commitment=commitment,
                    query_password=request.POST.get("query_password", ""),
                    token=token,
                )
                return HttpResponseRedirect(reverse("portal:my_case_receipt", args=[case.public_id]))
        except ValidationFailed as exc:
            named = exc.details.get("fields") if isinstance(exc.details, dict) else None
            errors = dict(named) if named else {"form": exc.message}
            if go == "submit":  # back to the first step with a problem
                for i, s in enumerate(steps):
                    if any(n in errors for n in s["fields"]):
                        step = i
                        break
                else:
                    step = len(steps) - 1
        except DomainError as exc:
            errors = {"form": exc.message}
        draft = case_reads.case_get_for_applicant(account=me, case_id=token)
    current = steps[step]
    carried = [(n, data[n]) for s in steps for n in s["fields"] if s is not current and n in data and n not in locked]
    last = step == len(steps) - 1
    on_materials = step == materials_step
    material_errors = {k: v for k, v in errors.items() if k == "materials" or k.startswith(("file-", "library-"))}
    return render(
        request,
        "portal/apply.html",
        {
            "impl": impl,
            "item": impl.base,
            "token": token,
            "steps": steps,
            "step": step,
            "last": last,
            "fields": _fields_view(form, current["fields"], data, locked),
            "carried": [(n, "1" if v is True else "0" if v is False else v) for n, v in carried],
            "errors": errors,
            "error_labels": [
                (n, apply_forms.field_label(form, n)) for n in errors if n not in ("form", "commitment", "query_password", *material_errors)
            ],
            "material_errors": material_errors,
            "commitment": bool(form.layout.get("commitment")) and last,
            "commitment_text": str(form.layout.get("commitment_text") or apply_forms.DEFAULT_COMMITMENT),
            "commitment_checked": commitment,
            "password_min": apply_forms.PASSWORD_MIN,
            "password_max": apply_forms.PASSWORD_MAX,
            "on_materials": on_materials,
            "materials": _materials_view(draft if draft is not None and draft.state == machine.State.DRAFT else None, impl)
            if on_materials
            else [],
            "library": case_materials.library_of(me) if on_materials else [],
            "limits": case_materials.limits_text(),
            "accept": ",".join(f".{t}" for t in case_materials.accepted_types()),
            "size_text": case_materials.size_text,
        },
        status=422 if errors else 200,
    )


@never_cache
@citizen_required
@require_GET
def my_case_receipt(request: HttpRequest, case_id: str) -> HttpResponse:
    case = case_reads.case_get_for_applicant(account=_me(request), case_id=case_id)
    if case is None or not case.code:
        return _case_missing(request)
    return render(request, "portal/apply_done.html", {"case": case, "item": case.implementation.base, "when": when})


# --- my cases ------------------------------------------------------------------------------------------


@never_cache
@citizen_required
@require_GET
def my_cases(request: HttpRequest) -> HttpResponse:
    cursor = request.GET.get("cursor") or None
    try:
        page = case_reads.cases_of(account=_me(request), cursor=cursor)
    except BadCursor as exc:
        return render(request, "portal/my_cases.html", {"rows": [], "error": exc.message, "paged": True}, status=400)
    rows = [{"case": c, "label": _label(c.state), "next": NEXT_STEP.get(machine.State(c.state), "")} for c in page.items]
    return render(
        request,
        "portal/my_cases.html",
        {"rows": rows, "next_cursor": page.next_cursor, "paged": bool(cursor), "error": "", "when": when, "iso": iso},
    )


def _timeline(case: Case) -> list[dict[str, Any]]:
    events = []
    for e in case.events.order_by("at", "id"):
        transition = machine.TRANSITIONS.get(e.action)
        events.append(
            {
                "label": transition.label if transition else e.action,
                "state": _label(e.to_state),
                "opinion": e.opinion if e.action not in ("submit", "resubmit", "supplemented") else "",
                "at": e.at,
                "by": "您" if e.actor_kind == "applicant" else "系统" if e.actor_kind == "system" else "工作人员",
            }
        )
    return events


@never_cache
@citizen_required
@require_GET
def my_case(request: HttpRequest, case_id: str) -> HttpResponse:
    case = case_reads.case_get_for_applicant(account=_me(request), case_id=case_id)
    if case is None:
        return _case_missing(request)
    state = machine.State(case.state)
    notice = None
    if state == machine.State.CORRECTING:
        notice = CorrectionNotice.objects.filter(case=case).order_by("-submission_round").first()
    actions = [
        (t.action, APPLICANT_ACTIONS[t.action]) for t in machine.allowed(state, machine.Actor.APPLICANT) if t.action in APPLICANT_ACTIONS
    ]
    form = case.form
    shown = []
    if form is not None:
        shown = [(apply_forms.field_label(form, n), case.form_data[n]) for n in apply_forms.field_names(form) if n in case.form_data]
    return render(
        request,
        "portal/my_case.html",
        {
            "case": case,
            "item": case.implementation.base,
            "label": _label(case.state),
            "next": NEXT_STEP.get(state, ""),
            "is_draft": state == machine.State.DRAFT,
            "notice": notice,
            "actions": actions,
            "events": _timeline(case),
            "shown": shown,
            "when": when,
            "iso": iso,
        },
    )


@citizen_required
@require_POST
def my_case_act(request: HttpRequest, case_id: str) -> HttpResponse:
    me = _me(request)
    case = case_reads.case_get_for_applicant(account=me, case_id=case_id)
    if case is None:
        return _case_missing(request)
    action = request.POST.get("action", "")
    if action not in APPLICANT_ACTIONS:
        raise Http404("未知操作")
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = -1
    try:
        case_services.case_act(actor=me, case_id=str(case.public_id), action=action, expected_version=version, actor_kind="applicant")
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, {"resubmit": "已重新提交，请等待工作人员预审。", "supplemented": "已提交补齐材料。"}.get(action, "申请已撤回。")
        )
    return HttpResponseRedirect(reverse("portal:my_case", args=[case.public_id]))


# --- lookup without signing in -------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def case_lookup(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"code": "", "error": "", "case": None, "when": when}
    status = 200
    if request.method == "POST":
        code = request.POST.get("code", "").strip()[:43]
        context["code"] = code
        if rate_limited(request, "case_lookup", LOOKUP_PER_MINUTE):
            context["error"] = "查询太频繁，请一分钟后再试。"
            status = 429
        else:
            case = apply_forms.case_lookup(code, request.POST.get("password", ""))
            if case is None:
                # One answer for an unknown code and a wrong password.
                context["error"] = "办件编号或查询密码不正确，请核对后重新输入。"
                status = 400
            else:
                context.update(case=case, item=case.implementation.base, label=_label(case.state), events=_timeline(case))
    return render(request, "portal/case_lookup.html", context, status=status)
