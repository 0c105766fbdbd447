"""我的: a citizen's account home, real-name upgrade and security (password, sign-ins on other
devices, applications they authorised). Everything personal is shown masked. Thin: rules live in
identity.persons, identity.sessions and identity.consents."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tongban.common.errors import DomainError
from tongban.common.ratelimit import rate_limited
from tongban.identity import consents, persons, population, sessions
from tongban.identity.models import Account, LoginSession
from tongban.web.context import visitor
from tongban.web.portal.account import PASSWORD_MAX, citizen_required, errors_from
from tongban.web.portal.inbox import iso, when
from tongban.web.signin import current_login, sign_out

PASSWORD_CHANGES_PER_MINUTE = 5

# What each real-name level lets a person do, and how to reach it (STANDARDS.md: L1–L4).
LEVELS: list[dict[str, Any]] = [
    {
        "level": 1,
        "name": "L1 注册用户",
        "allows": "查看办事指南、接收消息、预约和咨询。",
        "how": "用手机号和短信验证码注册即可。",
    },
    {
        "level": 2,
        "name": "L2 实名用户",
        "allows": "在网上申请大多数事项，查看本人的办件和电子证照。",
        "how": "填写姓名和身份证号码，与全国人口信息核对，约 1 分钟。",
    },
    {
        "level": 3,
        "name": "L3 实人用户",
        "allows": "办理社保、公积金、不动产等涉及个人重要信息和资金的事项。",
        "how": "在 L2 的基础上完成人脸核验，确认是本人在操作。",
    },
    {
        "level": 4,
        "name": "L4 现场核验",
        "allows": "办理全部网上事项，包括要求本人到场核验身份的事项。",
        "how": "带上居民身份证，到任一政务服务大厅窗口请工作人员现场核验。",
    },
]


def _me(request: HttpRequest) -> Account:
    account = visitor(request).citizen
    assert account is not None  # behind citizen_required
    return account


def _render_error(request: HttpRequest, title: str, message: str, status: int) -> HttpResponse:
    back = (reverse("portal:me_security"), "回到账号与安全")
    return render(request, "portal/error.html", {"title": title, "status": status, "message": message, "back": back}, status=status)


# --- account home ----------------------------------------------------------------------------------


@never_cache
@citizen_required
@require_GET
def me_home(request: HttpRequest) -> HttpResponse:
    account = _me(request)
    person = persons.describe(account)
    return render(request, "portal/me_home.html", {"person": person, "levels": LEVELS, "level": account.real_name_level})


# --- real name -------------------------------------------------------------------------------------


@sensitive_post_parameters("id_number")
@never_cache
@citizen_required
@require_http_methods(["GET", "POST"])
def me_realname(request: HttpRequest) -> HttpResponse:
    account = _me(request)
    errors: dict[str, str] = {}
    form = {"name": "", "id_number": ""}
    status = 200
    outage = ""
    if request.method == "POST":
        step = request.POST.get("step", "l2")
        try:
            if step == "face":
                token = ""
                if population.is_sandbox():
                    # No camera in the sandbox: the button stands in for the phone SDK's liveness check.
                    face = population.SandboxFaceVerifier()
                    token = face.liveness_token(account.id_number, same_person=request.POST.get("outcome") != "other")
                else:
                    token = request.POST.get("liveness_token", "")[:500]
                persons.realname_l3(account=account, liveness_token=token)
                messages.success(request, "人脸核验通过，您的实名等级已升为 L3 实人用户。")
            else:
                form = {"name": request.POST.get("name", "").strip()[:40], "id_number": request.POST.get("id_number", "").strip()[:24]}
                persons.realname_l2(account=account, name=form["name"], id_number=form["id_number"])
                messages.success(request, "实名认证成功，您的实名等级已升为 L2 实名用户。")
            return HttpResponseRedirect(reverse("portal:me_realname"))
        except population.ProviderUnavailable as exc:
            outage, status = exc.message, 503
        except DomainError as exc:
            target = "face" if step == "face" else "l2"
            errors_from(exc, errors, {"name", "id_number"} if target == "l2" else set())
            if target == "face":
                errors["face"] = errors.pop("form", exc.message)
            status = exc.status if exc.status != 422 else 400
        account.refresh_from_db()
    return render(
        request,
        "portal/me_realname.html",
        {
            "person": persons.describe(account),
            "level": account.real_name_level,
            "levels": LEVELS,
            "form": form,
            "errors": errors,
            "outage": outage,
            "sandbox": population.is_sandbox(),
            "events": persons.realname_events(account)[:10],
            "when": when,
            "iso": iso,
        },
        status=status,
    )


# --- security ----------------------------------------------------------------------------------------

_BROWSERS = [
    ("MicroMessenger", "微信"),
    ("AlipayClient", "支付宝"),
    ("Edg/", "Edge 浏览器"),
    ("HuaweiBrowser", "华为浏览器"),
    ("MiuiBrowser", "小米浏览器"),
    ("UCBrowser", "UC 浏览器"),
    ("QQBrowser", "QQ 浏览器"),
    ("Firefox/", "Firefox 浏览器"),
    ("Chrome/", "Chrome 浏览器"),
    ("Safari/", "Safari 浏览器"),
]
_SYSTEMS = [
    ("HarmonyOS", "鸿蒙手机"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "安卓手机"),
    ("Windows", "Windows 电脑"),
    ("Macintosh", "Mac 电脑"),
    ("CrOS", "Chromebook"),
    ("Linux", "Linux 电脑"),
]
METHODS = {"password": "密码", "otp": "短信验证码", "elicence": "电子营业执照", "totp": "动态口令"}


def device_label(user_agent: str) -> str:
    """A User-Agent as people name their device: “安卓手机 · 微信”."""
    system = next((label for key, label in _SYSTEMS if key in user_agent), "")
    browser = next((label for key, label in _BROWSERS if key in user_agent), "")
    if "HeadlessChrome" in user_agent:
        browser = "Chrome 浏览器"
    found = " · ".join(part for part in (system, browser) if part)
    return found or "未知设备"


def _session_rows(request: HttpRequest, account: Account) -> list[dict[str, Any]]:
    here = current_login(request)
    rows = []
    for login in sessions.sessions_of(account):
        rows.append(
            {
                "id": str(login.public_id),
                "device": device_label(login.user_agent),
                "method": METHODS.get(login.method, login.method),
                "created_at": login.created_at,
                "current": here is not None and here.pk == login.pk,
                "apps": [s.application.name for s in login.app_sign_ins.all()],
            }
        )
    rows.sort(key=lambda row: not row["current"])  # this device first
    return rows


def _consent_rows(account: Account) -> list[dict[str, Any]]:
    names = settings.OAUTH2_PROVIDER.get("SCOPES", {})
    return [
        {
            "id": str(c.application.public_id),
            "name": c.application.name,
            "granted_at": c.granted_at,
            "scopes": "、".join(names.get(scope, scope) for scope in c.scopes.split() if scope != "openid")
            or names.get("openid", "登录身份标识"),
        }
        for c in consents.of(account)
    ]


def _security_page(request: HttpRequest, *, errors: dict[str, str] | None = None, status: int = 200) -> HttpResponse:
    account = _me(request)
    return render(
        request,
        "portal/me_security.html",
        {
            "person": persons.describe(account),
            "username": account.username,
            "password_changed_at": account.password_changed_at,
            "sessions": _session_rows(request, account),
            "consents": _consent_rows(account),
            "errors": errors or {},
            "when": when,
            "iso": iso,
        },
        status=status,
    )


@never_cache
@citizen_required
@require_GET
def me_security(request: HttpRequest) -> HttpResponse:
    return _security_page(request)


@sensitive_post_parameters("old", "password")
@never_cache
@citizen_required
@require_POST
def me_password(request: HttpRequest) -> HttpResponse:
    account = _me(request)
    errors: dict[str, str] = {}
    old = request.POST.get("old", "")[:PASSWORD_MAX]
    new = request.POST.get("password", "")[:PASSWORD_MAX]
    if rate_limited(request, "password-change", PASSWORD_CHANGES_PER_MINUTE):
        errors["form"] = "操作太频繁，请 1 分钟后再试。"
        return _security_page(request, errors=errors, status=429)
    if not old:
        errors["old"] = "请输入当前密码。"
    if not new:
        errors["password"] = "请输入新密码，至少 12 个字符。"  # noqa: S105 - a message, not a password
    if errors:
        return _security_page(request, errors=errors, status=400)
    here = current_login(request)
    try:
        account = persons.password_change(account=account, old=old, new=new, keep=here)
    except DomainError as exc:
        errors_from(exc, errors, {"old", "password"})
        return _security_page(request, errors=errors, status=400)
    update_session_auth_hash(request, account)  # stay signed in here; a new session id
    if here is not None:
        persons.session_rekeyed(login=here, session_key=request.session.session_key or "")
    messages.success(request, "登录密码已修改。其他设备上的登录已退出，需要用新密码重新登录。")
    return HttpResponseRedirect(reverse("portal:me_security"))


def _own_session(account: Account, session_id: str) -> LoginSession | None:
    return next((login for login in sessions.sessions_of(account) if str(login.public_id) == session_id), None)


@citizen_required
@require_POST
def me_session_end(request: HttpRequest, session_id: str) -> HttpResponse:
    account = _me(request)
    login = _own_session(account, session_id)
    if login is None:
        return _render_error(request, "没有找到这个登录设备", "这个设备已经退出登录，或不属于当前账号。请回到账号与安全查看。", 404)
    here = current_login(request)
    if here is not None and here.pk == login.pk:
        sign_out(request, reason="用户在安全设置中退出本设备")
        messages.info(request, "您已在本设备退出登录。")
        return HttpResponseRedirect("/")
    sessions.session_end(login=login, reason="用户在安全设置中退出其他设备")
    messages.success(request, f"已退出“{device_label(login.user_agent)}”上的登录。")
    return HttpResponseRedirect(reverse("portal:me_security"))


@citizen_required
@require_POST
def me_sessions_end_all(request: HttpRequest) -> HttpResponse:
    account = _me(request)
    sessions.sessions_end_all(account=account, reason="用户选择退出所有设备")
    sign_out(request, reason="用户选择退出所有设备")
    messages.info(request, "已退出所有设备上的登录，包括本设备。需要时请重新登录。")
    return HttpResponseRedirect(reverse("portal:login"))


@citizen_required
@require_POST
def me_consent_revoke(request: HttpRequest, application_id: str) -> HttpResponse:
    account = _me(request)
    consent = next((c for c in consents.of(account) if str(c.application.public_id) == application_id), None)
    if consent is None or not re.fullmatch(r"[0-9a-f-]{36}", application_id):
        return _render_error(request, "没有找到这项授权", "这项授权已经撤销，或不属于当前账号。请回到账号与安全查看。", 404)
    consents.revoke(account=account, application=consent.application)
    messages.success(request, f"已撤销对“{consent.application.name}”的授权。它下次需要使用您的信息时，会重新征得您的同意。")
    return HttpResponseRedirect(reverse("portal:me_security"))
