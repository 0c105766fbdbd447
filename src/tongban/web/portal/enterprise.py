"""Enterprise pages: my mandates and the acting identity (/my/enterprises/), the legal
representative's sign-in with the e-business licence (/enterprise/login/), and the management page
of the legal representative and managers (/enterprise/<credit code>/).

Thin, like the other portal pages: every rule lives in identity.enterprises. The management page of
an enterprise exists only for its legal representative and managers; anyone else signed in gets
the same 404 as for an unknown code, and anyone not signed in is sent to sign in first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tongban.catalog.models import BaseItem
from tongban.common.codes import is_valid_uscc
from tongban.common.errors import DomainError
from tongban.common.masking import mask_mobile, mask_name
from tongban.common.ratelimit import rate_limited
from tongban.identity import enterprises, legal_persons, sessions
from tongban.identity.models import Account, Mandate
from tongban.web.context import visitor

LOCAL = ZoneInfo("Asia/Shanghai")
ELICENCE_KEY = "tb_elicence"  # the pending e-licence confirmation, in the Django session
ELICENCE_PER_MINUTE = 20
SCOPE_LABELS = {Mandate.Scope.FULL: "全部事项", Mandate.Scope.PRECISE: "指定事项"}


def _signed_in(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A signed-in citizen, or off to the sign-in page first (before the method is even looked at,
    so nothing here answers differently to someone not signed in). A form posted after the session
    ran out comes back to the page the form belongs to."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if visitor(request).citizen is None:
            if request.method == "GET":
                back = request.get_full_path()
            elif "credit_code" in kwargs:
                back = reverse("portal:enterprise_manage", kwargs={"credit_code": kwargs["credit_code"]})
            elif request.path == reverse("portal:enterprise_login"):
                back = request.path
            else:
                back = reverse("portal:my_enterprises")
            return redirect_to_login(back, reverse("portal:login"))
        return view(request, *args, **kwargs)

    return wrapper


def _me(request: HttpRequest) -> Account:
    account = visitor(request).citizen
    assert account is not None
    return account


def day(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    local = timezone.localtime(value, LOCAL)
    return f"{local.year}年{local.month}月{local.day}日"


def period(mandate: Mandate) -> str:
    """The period as people say it; an end at midnight is shown as the day before (the last whole day)."""
    start = day(mandate.valid_from)
    if mandate.valid_until is None:
        return f"{start}起，长期有效"
    end = timezone.localtime(mandate.valid_until, LOCAL)
    if end.time() == dt.time(0, 0):
        end -= dt.timedelta(days=1)
    return f"{start} 至 {end.year}年{end.month}月{end.day}日"


def _item_names(codes: set[str]) -> dict[str, str]:
    return dict(BaseItem.objects.filter(code__in=codes).values_list("code", "name")) if codes else {}


def _row(mandate: Mandate, names: dict[str, str]) -> dict[str, Any]:
    return {
        "mandate": mandate,
        "id": str(mandate.public_id),
        "enterprise": mandate.enterprise,
        "role": mandate.get_role_display(),
        "scope": SCOPE_LABELS.get(Mandate.Scope(mandate.scope), ""),
        "item_list": [(code, names.get(code, "")) for code in mandate.items or []],
        "period": period(mandate),
        "since": day(mandate.valid_from),
        "live": sessions.mandate_is_live(mandate),
        "manages": mandate.role in (Mandate.Role.LEGAL_REP, Mandate.Role.MANAGER),
    }


def _error_page(request: HttpRequest, *, title: str, message: str, status: int) -> HttpResponse:
    return render(
        request,
        "portal/error.html",
        {"title": title, "status": status, "message": message, "back": (reverse("portal:my_enterprises"), "回到我的企业")},
        status=status,
    )


# --- my enterprises and the acting identity -----------------------------------------------------


def _my_page(request: HttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    mandates = enterprises.mandates_of(_me(request))
    names = _item_names({code for m in mandates for code in m.items or []})
    acting = visitor(request).acting
    return render(
        request,
        "portal/enterprises.html",
        {
            "rows": [_row(m, names) for m in mandates],
            "acting_id": str(acting.public_id) if acting else "",
            "error": error,
        },
        status=status,
    )


@never_cache
@_signed_in
@require_GET
def my_enterprises(request: HttpRequest) -> HttpResponse:
    return _my_page(request)


@_signed_in
@require_POST
def acting_switch(request: HttpRequest) -> HttpResponse:
    """以此身份办事 / 切换回个人. The choice is checked again by the service: only a live mandate of
    this person."""
    login = visitor(request).login
    if login is None:
        return _my_page(request, error="这次登录已失效，请退出后重新登录，再切换身份。", status=409)
    chosen = request.POST.get("mandate", "")
    mandate = None
    if chosen != "personal":
        mandate = enterprises.mandate_find(chosen, account=_me(request))
        if mandate is None:
            return _my_page(request, error="没有找到这项授权，请从下面的列表中选择。", status=404)
    try:
        enterprises.acting_switch(login_session=login, mandate=mandate)
    except DomainError as exc:
        return _my_page(request, error=exc.message, status=exc.status)
    if mandate is None:
        messages.success(request, "已切换回个人身份。")
    else:
        messages.success(
            request, f"已切换为“{mandate.enterprise.name}”的{mandate.get_role_display()}身份，现在办理的事项都以企业名义提交。"
        )
    target = request.POST.get("next", "")
    if not (target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})):
        target = reverse("portal:my_enterprises")
    return HttpResponseRedirect(target)


# --- the legal representative's sign-in with the e-business licence ----------------------------


def _login_page(
    request: HttpRequest, *, step: int, credit_code: str = "", errors: dict[str, str] | None = None, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "portal/enterprise_login.html",
        {
            "step": step,
            "credit_code": credit_code,
            "errors": errors or {},
            "sandbox_pin": legal_persons.sandbox_pin(),
            "minutes": max(1, round(settings.ELICENCE_CHALLENGE_SECONDS / 60)),
        },
        status=status,
    )


@sensitive_post_parameters("pin")
@never_cache
@_signed_in
@require_http_methods(["GET", "POST"])
def elicence_login(request: HttpRequest) -> HttpResponse:
    """Two steps: the credit code (the app is asked to confirm), then the confirmation in the app
    (the sandbox app's PIN is typed on this page)."""
    if request.method == "GET":
        request.session.pop(ELICENCE_KEY, None)
        return _login_page(request, step=1)
    if rate_limited(request, "elicence", ELICENCE_PER_MINUTE):
        return _login_page(request, step=1, errors={"form": "操作太频繁，请 1 分钟后再试。"}, status=429)
    if request.POST.get("action") == "confirm":
        return _elicence_confirm(request)
    code = enterprises.normalise_credit_code(request.POST.get("credit_code", ""))[:18]
    if not code:
        return _login_page(request, step=1, errors={"credit_code": "请输入企业的统一社会信用代码。"}, status=400)
    if not is_valid_uscc(code):
        message = "统一社会信用代码校验未通过，请核对后重新输入（18 位，字母大写，不含 I、O、S、V、Z）。"
        return _login_page(request, step=1, credit_code=code, errors={"credit_code": message}, status=400)
    try:
        challenge = legal_persons.elicence_app().start(code)
    except DomainError as exc:
        field = "credit_code" if exc.code in ("invalid_credit_code", "elicence_not_issued") else "form"
        return _login_page(request, step=1, credit_code=code, errors={field: exc.message}, status=exc.status)
    request.session[ELICENCE_KEY] = {"challenge": challenge.token, "credit_code": challenge.credit_code}
    return _login_page(request, step=2, credit_code=challenge.credit_code)


def _elicence_confirm(request: HttpRequest) -> HttpResponse:
    pending = request.session.get(ELICENCE_KEY) or {}
    if not pending.get("challenge"):
        return _login_page(request, step=1, errors={"form": "确认已超时或已完成，请重新输入统一社会信用代码。"}, status=400)
    code = pending["credit_code"]
    pin = request.POST.get("pin", "").strip()[:12]
    if not pin:
        return _login_page(request, step=2, credit_code=code, errors={"pin": "请输入电子营业执照的 PIN 码。"}, status=400)
    try:
        assertion = legal_persons.elicence_app().confirm(pending["challenge"], pin)
    except DomainError as exc:
        if exc.code == "elicence_wrong_pin":
            return _login_page(request, step=2, credit_code=code, errors={"pin": exc.message}, status=exc.status)
        if exc.code != "provider_unavailable":
            request.session.pop(ELICENCE_KEY, None)
        return _login_page(
            request, step=1 if exc.code != "provider_unavailable" else 2, credit_code=code, errors={"form": exc.message}, status=exc.status
        )
    request.session.pop(ELICENCE_KEY, None)
    try:
        mandate = enterprises.enterprise_login_as_legal_rep(account=_me(request), credit_code=code, assertion=assertion)
    except DomainError as exc:
        return _login_page(request, step=1, credit_code=code, errors={"form": exc.message}, status=exc.status)
    login = visitor(request).login
    if login is not None:
        enterprises.acting_switch(login_session=login, mandate=mandate)
    messages.success(request, f"已以法定代表人身份登录“{mandate.enterprise.name}”，现在以企业身份办事。")
    return HttpResponseRedirect(reverse("portal:enterprise_manage", kwargs={"credit_code": mandate.enterprise.credit_code}))


# --- managing an enterprise's managers and agents ------------------------------------------------


def _not_found(request: HttpRequest) -> HttpResponse:
    """One page for an unknown code and for an enterprise this person does not manage."""
    return _error_page(
        request,
        title="没有找到这家企业",
        message="这家企业不存在，或您不是它的法定代表人或管理员。经办人请在“我的企业”中查看自己的授权。",
        status=404,
    )


def _parse_day(raw: str) -> dt.date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    return dt.date.fromisoformat(raw)


def _start_of(day_value: dt.date) -> dt.datetime:
    return dt.datetime.combine(day_value, dt.time(0, 0), tzinfo=LOCAL)


def _manage_page(
    request: HttpRequest,
    mine: Mandate,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    values: dict[str, dict[str, str]] | None = None,
    status: int = 200,
) -> HttpResponse:
    enterprise = mine.enterprise
    people = enterprises.enterprise_people(enterprise)
    names = _item_names({code for m in people["agents"] + people["ended"] for code in m.items or []})
    today = timezone.localdate(timezone.now(), LOCAL).isoformat()
    is_legal_rep = mine.role == Mandate.Role.LEGAL_REP

    def person(m: Mandate) -> dict[str, Any]:
        row = _row(m, names)
        row["name"] = mask_name(m.grantee.display_name or m.grantee.username)
        row["mobile"] = mask_mobile(m.grantee.mobile) if m.grantee.mobile_sealed else ""
        row["revocable"] = is_legal_rep or m.role == Mandate.Role.AGENT
        row["revoked_on"] = day(m.revoked_at) if m.revoked_at else ""
        row["revoke_reason"] = m.revoke_reason
        return row

    return render(
        request,
        "portal/enterprise.html",
        {
            "enterprise": enterprise,
            "mine": mine,
            "is_legal_rep": is_legal_rep,
            "legal_rep_name": mask_name(enterprise.legal_rep_name),
            "managers": [person(m) for m in people["managers"]],
            "agents": [person(m) for m in people["agents"]],
            "ended": [person(m) for m in people["ended"]],
            "max_managers": enterprises.MAX_MANAGERS,
            "errors": errors or {},
            "values": values or {},
            "today": today,
        },
        status=status,
    )


@never_cache
@_signed_in
@require_GET
def enterprise_manage(request: HttpRequest, credit_code: str) -> HttpResponse:
    mine = enterprises.managing_mandate(_me(request), credit_code)
    if mine is None:
        return _not_found(request)
    return _manage_page(request, mine)


@_signed_in
@require_POST
def enterprise_appoint(request: HttpRequest, credit_code: str) -> HttpResponse:
    mine = enterprises.managing_mandate(_me(request), credit_code)
    if mine is None:
        return _not_found(request)
    mobile = request.POST.get("mobile", "").strip()[:20]
    try:
        mandate = enterprises.manager_appoint(actor=_me(request), enterprise=mine.enterprise, grantee_mobile=mobile)
    except DomainError as exc:
        field = (
            "mobile"
            if exc.code in ("invalid_mobile", "grantee_not_found", "grantee_not_verified", "grantee_is_actor", "already_manager")
            else "form"
        )
        return _manage_page(
            request, mine, errors={"appoint": {field: exc.message}}, values={"appoint": {"mobile": mobile}}, status=exc.status
        )
    messages.success(request, f"已设 {mask_name(mandate.grantee.display_name or mandate.grantee.username)} 为管理员，并已通知对方。")
    return HttpResponseRedirect(reverse("portal:enterprise_manage", kwargs={"credit_code": mine.enterprise.credit_code}) + "#managers")


@_signed_in
@require_POST
def enterprise_authorise(request: HttpRequest, credit_code: str) -> HttpResponse:
    mine = enterprises.managing_mandate(_me(request), credit_code)
    if mine is None:
        return _not_found(request)
    form = {
        "mobile": request.POST.get("mobile", "").strip()[:20],
        "scope": request.POST.get("scope", ""),
        "items": request.POST.get("items", "")[:2000],
        "valid_from": request.POST.get("valid_from", "")[:10],
        "valid_until": request.POST.get("valid_until", "")[:10],
    }
    errors: dict[str, str] = {}
    start = end = None
    try:
        start_day = _parse_day(form["valid_from"])
        start = _start_of(start_day) if start_day else None
    except ValueError:
        errors["valid_from"] = "开始日期格式不正确，请按“年-月-日”填写，例如 2026-03-01。"
    try:
        end_day = _parse_day(form["valid_until"])
        end = _start_of(end_day + dt.timedelta(days=1)) if end_day else None  # through the whole last day
    except ValueError:
        errors["valid_until"] = "截止日期格式不正确，请按“年-月-日”填写，例如 2026-12-31。"
    if start is not None and start < _start_of(timezone.localdate(timezone.now(), LOCAL)):
        errors["valid_from"] = "开始日期不能早于今天。"
    if not errors:
        try:
            mandate = enterprises.agent_authorise(
                actor=_me(request),
                enterprise=mine.enterprise,
                grantee_mobile=form["mobile"],
                scope=form["scope"],
                items=form["items"],
                valid_from=start if start is not None and start > timezone.now() else None,
                valid_until=end,
            )
        except DomainError as exc:
            field = {
                "invalid_mobile": "mobile",
                "grantee_not_found": "mobile",
                "grantee_not_verified": "mobile",
                "grantee_is_actor": "mobile",
                "already_manager": "mobile",
                "already_agent": "mobile",
                "invalid_scope": "scope",
                "items_required": "items",
                "invalid_items": "items",
                "unknown_items": "items",
                "end_required": "valid_until",
                "invalid_period": "valid_until",
            }.get(exc.code, "form")
            errors[field] = exc.message
            status = exc.status
        else:
            who = mask_name(mandate.grantee.display_name or mandate.grantee.username)
            messages.success(request, f"已授权 {who} 为经办人（{SCOPE_LABELS[Mandate.Scope(mandate.scope)]}），并已通知对方。")
            return HttpResponseRedirect(
                reverse("portal:enterprise_manage", kwargs={"credit_code": mine.enterprise.credit_code}) + "#agents"
            )
    else:
        status = 400
    return _manage_page(request, mine, errors={"authorise": errors}, values={"authorise": form}, status=status)


@_signed_in
@require_POST
def enterprise_revoke(request: HttpRequest, credit_code: str, mandate_id: str) -> HttpResponse:
    mine = enterprises.managing_mandate(_me(request), credit_code)
    if mine is None:
        return _not_found(request)
    target = enterprises.mandate_find(mandate_id, enterprise=mine.enterprise)
    if target is None:
        return _not_found(request)
    reason = request.POST.get("reason", "").strip()[:200]
    try:
        enterprises.mandate_revoke(actor=_me(request), mandate=target, reason=reason)
    except DomainError as exc:
        return _manage_page(
            request,
            mine,
            errors={"revoke": {"id": str(target.public_id), "reason": exc.message}},
            values={"revoke": {"reason": reason}},
            status=exc.status,
        )
    who = mask_name(target.grantee.display_name or target.grantee.username)
    messages.success(request, f"已撤销 {who} 的{target.get_role_display()}授权，立即生效，并已通知对方。")
    return HttpResponseRedirect(reverse("portal:enterprise_manage", kwargs={"credit_code": mine.enterprise.credit_code}))
