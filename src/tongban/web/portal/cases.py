"""在线申请: applying online (one page or several steps, all server-side, no JavaScript needed),
with the item's materials as the last step. The receipt, 我的办件 and the lookup by code and query
password are web.portal.tracking.

Thin: cases.forms and cases.materials keep every rule; another person's case is as missing as none."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from tongban.cases import forms as apply_forms
from tongban.cases import machine
from tongban.cases import materials as case_materials
from tongban.cases import selectors as case_reads
from tongban.cases.models import ApplicationForm, Case
from tongban.catalog import selectors as catalog
from tongban.common.errors import DomainError, PermissionDenied, ValidationFailed
from tongban.identity.models import Account
from tongban.web.context import visitor
from tongban.web.portal.account import citizen_required
from tongban.web.portal.files import limit_uploads


def _me(request: HttpRequest) -> Account:
    account = visitor(request).citizen
    assert account is not None
    return account


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
    mandate = visitor(request).acting
    enterprise = mandate.enterprise if mandate is not None else None  # applying for the enterprise acted for
    locked = apply_forms.prefill(form, me, enterprise)
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
                    enterprise=enterprise,
                )
                return HttpResponseRedirect(reverse("portal:my_case_receipt", args=[case.public_id]))
        except (ValidationFailed, PermissionDenied) as exc:
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
