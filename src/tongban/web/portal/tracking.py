"""我的办件 and 办件查询: the applicant's cases (a one-thing-done-once bundle as one entry), a case
with its plain-Chinese timeline, its clock, what is asked of the applicant now (the one-time
correction notice with its materials, a supplement during review, pick-up at a window), withdrawal
where the law allows it, the documents the handling produced, the receipt after applying, and
following a case by its code and query password without signing in.

Thin: cases.services and cases.materials keep every rule; another person's case is as missing as
none; the lookup answers an unknown code and a wrong password alike."""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
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
from tongban.cases.models import Case, CaseDocument, CaseEvent, CorrectionNotice
from tongban.common.errors import DomainError
from tongban.common.masking import mask_id_number, mask_mobile, mask_name
from tongban.common.pagination import BadCursor
from tongban.common.ratelimit import over_limit, rate_limited
from tongban.identity.models import Account
from tongban.web.context import visitor
from tongban.web.portal import progress
from tongban.web.portal.account import citizen_required
from tongban.web.portal.files import limit_uploads
from tongban.web.portal.inbox import iso, when

LOOKUP_PER_MINUTE = 20  # per client address
LOOKUP_PER_CODE_PER_MINUTE = 20  # per code, from any address: spreading guesses over many addresses gains nothing
# The applicant's own steps, with the button's wording.
APPLICANT_ACTIONS = {"resubmit": "已补正，重新提交", "supplemented": "已补齐，提交材料", "withdraw": "撤回申请"}
DONE_NOTES = {
    "resubmit": "已重新提交，请等待工作人员预审。",
    "supplemented": "已提交补齐的材料，请等待工作人员审查。",
    "withdraw": "申请已撤回。",
}
REASON_MAX = 200


def _me(request: HttpRequest) -> Account:
    account = visitor(request).citizen
    assert account is not None
    return account


def _case_missing(request: HttpRequest) -> HttpResponse:
    """One page for an unknown id and for someone else's case: nothing tells them apart."""
    return render(
        request,
        "portal/error.html",
        {
            "title": "没有找到这个办件",
            "status": 404,
            "message": "这个办件不存在，或不属于当前登录的账号。请回到我的办件查看。",
            "back": (reverse("portal:my_cases"), "回到我的办件"),
        },
        status=404,
    )


def _own(request: HttpRequest, case_id: str) -> Case | None:
    case = case_reads.case_get_for_applicant(account=_me(request), case_id=case_id)
    if case is not None:
        # One query for what every part of the page reads.
        case = Case.objects.select_related("implementation__base", "department", "bundle_application__bundle").get(pk=case.pk)
    return case


def _detail_url(case: Case, anchor: str = "") -> str:
    return reverse("portal:my_case", args=[case.public_id]) + (f"#{anchor}" if anchor else "")


# --- the list -----------------------------------------------------------------------------------------


@never_cache
@citizen_required
@require_GET
def my_cases(request: HttpRequest) -> HttpResponse:
    cursor = request.GET.get("cursor") or None
    try:
        rows, next_cursor = progress.entries(account=_me(request), cursor=cursor)
    except BadCursor as exc:
        return render(request, "portal/my_cases.html", {"rows": [], "error": exc.message, "paged": True}, status=400)
    return render(
        request,
        "portal/my_cases.html",
        {"rows": rows, "next_cursor": next_cursor, "paged": bool(cursor), "error": "", "need_count": sum(1 for r in rows if r.asks)},
    )


# --- one case -----------------------------------------------------------------------------------------


def _new_since(files: list[Any], since: Any) -> list[Any]:
    return [f for f in files if since is None or f.created_at > since]


def _correction(case: Case, slots: list[Any]) -> dict[str, Any] | None:
    """The current correction notice, each problem with its material's slot and what was uploaded
    since the notice."""
    notice = CorrectionNotice.objects.filter(case=case, submission_round=case.submission_round).first()
    if notice is None:
        notice = CorrectionNotice.objects.filter(case=case).order_by("-submission_round").first()
    if notice is None:
        return None
    by_name = {s.name: s for s in slots}
    problems = []
    for p in notice.problems:
        slot = by_name.get(p.get("material", ""))
        problems.append(
            {
                "material": p.get("material", ""),
                "reason": p.get("reason", ""),
                "slot": slot,
                "uploadable": slot is not None and not slot.paper_only,
                "new_files": _new_since(slot.files, notice.issued_at) if slot else [],
            }
        )
    return {"notice": notice, "problems": problems}


def _supplement_request(case: Case) -> str:
    event = CaseEvent.objects.filter(case=case, action="ask_supplement").order_by("-at", "-id").first()
    return event.opinion if event is not None else ""


MASKS = {"id_number": mask_id_number, "mobile": mask_mobile}


def _shown(case: Case) -> list[tuple[str, Any]]:
    """The application's fields as filled, identity numbers masked (they are the applicant's own,
    but a phone screen is often seen by others)."""
    form = case.form
    if form is None:
        return []
    prefilled = apply_forms.prefill_fields(form)
    rows = []
    for name in apply_forms.field_names(form):
        if name in case.form_data:
            value = case.form_data[name]
            mask = MASKS.get(prefilled.get(name, ""))
            rows.append((apply_forms.field_label(form, name), mask(str(value)) if mask and value else value))
    return rows


@never_cache
@citizen_required
@require_GET
def my_case(request: HttpRequest, case_id: str) -> HttpResponse:
    case = _own(request, case_id)
    if case is None:
        return _case_missing(request)
    state = machine.State(case.state)
    slots = case_materials.material_slots(case) if state != machine.State.DRAFT else []
    editable = state in case_materials.APPLICANT_EDITABLE and state != machine.State.DRAFT
    allowed = {t.action for t in machine.allowed(state, machine.Actor.APPLICANT)}
    shown = _shown(case)
    siblings = []
    if case.bundle_application_id:
        siblings = [
            {"case": c, "label": progress.label(c)}
            for c in Case.objects.filter(bundle_application_id=case.bundle_application_id, applicant=case.applicant_id)
            .select_related("implementation__base")
            .order_by("id")
        ]
    impl = case.implementation
    return render(
        request,
        "portal/my_case.html",
        {
            "case": case,
            "item": impl.base,
            "impl": impl,
            "department": progress.department_name(case),
            "label": progress.label(case),
            "stage": progress.stage(case),
            "asks": progress.asks(case),
            "waiting": progress.waiting(case),
            "clock": progress.clock_lines(case),
            "is_draft": state == machine.State.DRAFT,
            "correction": _correction(case, slots) if state == machine.State.CORRECTING else None,
            "supplement": _supplement_request(case) if state == machine.State.SUPPLEMENTING else None,
            "upload_slots": [s for s in slots if not s.paper_only and not s.licence] if editable else [],
            "editable": editable,
            "slots": slots,
            "limits": case_materials.limits_text() if editable else "",
            "accept": ",".join(f".{t}" for t in case_materials.accepted_types()),
            "can_resubmit": "resubmit" in allowed,
            "can_supplement": "supplemented" in allowed,
            "can_withdraw": "withdraw" in allowed and state != machine.State.DRAFT,
            "can_discard": "withdraw" in allowed and state == machine.State.DRAFT and not case.bundle_application_id,
            "withdraw_reasons": progress.WITHDRAW_REASONS,
            "documents": list(CaseDocument.objects.filter(case=case).select_related("file").order_by("id")),
            "pickup": case.delivery_method == Case.Delivery.WINDOW,
            "delivery": case.get_delivery_method_display(),
            "delivery_sentence": progress.delivery_sentence(case),
            "payment": impl.fee_required and state in (machine.State.ACCEPTED, machine.State.DECIDED, machine.State.CONCLUDED),
            "siblings": siblings,
            "events": progress.timeline(case),
            "shown": shown,
            "when": when,
            "iso": iso,
            "day_text": progress.day_text,
        },
    )


def _withdraw_reason(request: HttpRequest) -> str:
    chosen = request.POST.get("reason", "").strip()
    detail = request.POST.get("reason_detail", "").strip()
    if chosen not in progress.WITHDRAW_REASONS:
        chosen = ""
    return "：".join(x for x in (chosen, detail) if x)[:REASON_MAX]


@citizen_required
@require_POST
def my_case_act(request: HttpRequest, case_id: str) -> HttpResponse:
    case = _own(request, case_id)
    if case is None:
        return _case_missing(request)
    action = request.POST.get("action", "")
    if action not in APPLICANT_ACTIONS:
        return _case_missing(request)
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = -1
    if action == "resubmit" and case.state == machine.State.CORRECTING:
        missing = case_materials.corrections_outstanding(case)
        if missing:
            messages.error(request, f"请先为以下材料上传补正后的文件，再重新提交：{'、'.join(missing)}。")
            return HttpResponseRedirect(_detail_url(case, "correction"))
    opinion = _withdraw_reason(request) if action == "withdraw" else ""
    try:
        case_services.case_act(
            actor=_me(request),
            case_id=str(case.public_id),
            action=action,
            expected_version=version,
            actor_kind="applicant",
            opinion=opinion,
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, DONE_NOTES[action])
    return HttpResponseRedirect(_detail_url(case))


@csrf_exempt  # checked in _case_materials, once the per-file size limit is in front of the upload
@citizen_required
@require_POST
def my_case_materials(request: HttpRequest, case_id: str) -> HttpResponse:
    """Upload corrected or supplementary materials (one or several at once), or remove one added
    since the last submission. The files' rules are cases.materials'."""
    limit_uploads(request)
    return _case_materials(request, case_id)


@csrf_protect
def _case_materials(request: HttpRequest, case_id: str) -> HttpResponse:
    case = _own(request, case_id)
    if case is None:
        return _case_missing(request)
    me = _me(request)
    anchor = "correction" if case.state == machine.State.CORRECTING else "supplement"
    remove = request.POST.get("remove", "")
    chosen = [(k, f) for k in request.FILES if k.startswith("file-") and (f := request.FILES.get(k)) is not None]
    done: list[str] = []
    problems: list[str] = []
    if remove:
        try:
            case_materials.material_remove(actor=me, case=case, case_material_id=remove)
            done.append("已删除该文件")
        except DomainError as exc:
            problems.append(exc.message)
    for _field in sorted(getattr(request, "material_too_large", set())):
        problems.append(case_materials.too_large_text())
    if not (remove or chosen or problems):
        problems.append("请先选择要上传的文件。")
    for field, upload in chosen:
        try:
            row = case_materials.material_attach(actor=me, case=case, material_id=field.removeprefix("file-"), upload=upload)
            done.append(f"已上传“{row.file.name if row.file else row.name}”")
        except DomainError as exc:
            problems.append(f"{case_materials.clean_name(upload.name)}：{exc.message}")
    if done:
        messages.success(request, "；".join(done) + "。")
    if problems:
        messages.error(request, "；".join(problems))
    return HttpResponseRedirect(_detail_url(case, anchor))


@never_cache
@citizen_required
@require_GET
def my_case_receipt(request: HttpRequest, case_id: str) -> HttpResponse:
    case = _own(request, case_id)
    if case is None or not case.code:
        return _case_missing(request)
    return render(
        request,
        "portal/apply_done.html",
        {
            "case": case,
            "item": case.implementation.base,
            "when": when,
            "clock": progress.clock_lines(case),
            "department": progress.department_name(case),
        },
    )


# --- following a case without signing in --------------------------------------------------------------


def _code_key(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()[:24]


@never_cache
@require_http_methods(["GET", "POST"])
def case_lookup(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"code": "", "error": "", "case": None}
    status = 200
    if request.method == "POST":
        code = request.POST.get("code", "").strip()[:43]
        context["code"] = code
        # Counted per address and per code (whether it exists or not): the answer never says which.
        limited = rate_limited(request, "case_lookup", LOOKUP_PER_MINUTE)
        limited = over_limit(f"case_lookup_code:{_code_key(code)}", LOOKUP_PER_CODE_PER_MINUTE) or limited
        if limited:
            context["error"] = "查询太频繁，请一分钟后再试。"
            status = 429
        else:
            case = apply_forms.case_lookup(code, request.POST.get("password", ""))
            if case is None:
                context["error"] = "办件编号或查询密码不正确，请核对后重新输入。"
                status = 400
            else:
                case = Case.objects.select_related("implementation__base", "department", "applicant").get(pk=case.pk)
                context.update(
                    case=case,
                    item=case.implementation.base,
                    department=progress.department_name(case),
                    applicant=mask_name(case.applicant.display_name) or "—",
                    label=progress.label(case),
                    stage=progress.stage(case),
                    clock=progress.clock_lines(case),
                    events=progress.timeline(case, public=True),
                    when=when,
                    iso=iso,
                )
    return render(request, "portal/case_lookup.html", context, status=status)
