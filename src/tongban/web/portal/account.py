"""Registering, signing in and out, and a forgotten password, for citizens.

- ``/register/``: mobile number → one-time code by SMS → code, name and password (L1).
- ``/login/``: two ways, each its own form: mobile number (or user name) and password; or mobile
  number and a one-time code. Password failures lock the username+address pair (django-axes);
  ``locked_out`` is the page shown then.
- ``/password-reset/``: mobile number → code → a new password; every sign-in of the person ends.
- ``/logout/``: POST only.

Each multi-step form works without JavaScript: the step is decided by what was posted, the number
travels in the form (never in an address). Rules live in identity.persons; these views translate
its errors into messages beside the fields. Only citizen accounts sign in here; staff use the
console's own page.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from tongban.common.errors import DomainError
from tongban.common.masking import mask_mobile
from tongban.common.ratelimit import client_ip, rate_limited
from tongban.identity import persons
from tongban.identity.models import Account
from tongban.messaging.otp import TooManyRequests, otp_send
from tongban.web.context import visitor
from tongban.web.signin import sign_in, sign_out

LOGIN_PER_MINUTE = 10
REGISTER_PER_MINUTE = 10
USERNAME_MAX = 150
PASSWORD_MAX = 128
WAYS = {"password": "密码登录", "code": "验证码登录"}
# Where a form posted after the session ran out comes back to: the page the form belongs to.
FORM_PAGES = [("/my/security/", "portal:me_security"), ("/my/realname/", "portal:me_realname"), ("/my/messages/", "portal:inbox")]


def login_url() -> str:
    return reverse("portal:login")


def _form_page(path: str) -> str:
    for prefix, name in FORM_PAGES:
        if path.startswith(prefix):
            return reverse(name)
    return reverse("portal:me")


def citizen_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A signed-in citizen, or off to the sign-in page and back here afterwards. A form posted by
    someone whose session ran out comes back to the page the form belongs to, not to the action."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if visitor(request).citizen is None:
            back = request.get_full_path() if request.method == "GET" else _form_page(request.path)
            return redirect_to_login(back, login_url())
        return view(request, *args, **kwargs)

    return wrapper


def _safe_next(request: HttpRequest, fallback: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


def errors_from(exc: DomainError, errors: dict[str, str], fields: set[str]) -> None:
    """A service's refusal beside the field it is about, or at the top of the form."""
    details = exc.details if isinstance(exc.details, dict) else {}
    named = details.get("fields") if isinstance(details.get("fields"), dict) else None
    if named:
        for field, message in named.items():
            errors[field if field in fields else "form"] = message
        return
    field = details.get("field")
    errors[field if field in fields else "form"] = exc.message


def _after_sign_in(request: HttpRequest, account: Account, method: str) -> None:
    login = sign_in(request, account, method=method)  # a new session id: a fixed session is worthless
    persons.sign_in_noticed(login=login)


def _otp_request(request: HttpRequest, mobile_raw: str, purpose: str, errors: dict[str, str]) -> tuple[str, str, int]:
    """Ask for a code. Returns (number, notice, status); on a refusal the error is in ``errors``."""
    mobile = persons.normalise_mobile(mobile_raw)
    try:
        otp_send(mobile=mobile, purpose=purpose, client_ip=client_ip(request))
    except TooManyRequests as exc:
        if exc.code == "otp_cooldown":  # the earlier code is on its way: go on to the next step
            return mobile, exc.message, 429
        errors["mobile"] = exc.message
        return mobile, "", 429
    except DomainError as exc:
        errors["mobile"] = exc.message
        return mobile, "", 400
    notice = f"验证码已发送到 {mask_mobile(mobile)}，{max(1, settings.OTP_TTL_SECONDS // 60)} 分钟内有效。"
    return mobile, notice, 200


def _resend_wait() -> int:
    return int(settings.OTP_RESEND_SECONDS)


# --- sign in -----------------------------------------------------------------------------------------


@sensitive_post_parameters("password", "code")
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request)
    way = request.POST.get("way") or request.GET.get("way") or "password"
    if way not in WAYS:
        way = "password"
    context: dict[str, Any] = {"next": next_url, "way": way, "ways": WAYS, "errors": {}, "username": "", "mobile": "", "sent": ""}
    if request.method == "GET":
        if visitor(request).citizen is not None:
            return HttpResponseRedirect(next_url)
        return render(request, "portal/login.html", context)
    if way == "password":
        return _password_login(request, context)
    return _code_login(request, context)


def _password_login(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    identifier = request.POST.get("username", "").strip()[:USERNAME_MAX]
    password = request.POST.get("password", "")[:PASSWORD_MAX]
    errors: dict[str, str] = context["errors"]
    context["username"] = identifier
    status = 400
    if rate_limited(request, "login", LOGIN_PER_MINUTE):
        errors["form"] = "登录尝试太频繁，为保护账号安全已暂停。请 1 分钟后再试。"
        status = 429
    else:
        if not identifier:
            errors["username"] = "请输入手机号或用户名。"
        if not password:
            errors["password"] = "请输入密码。"  # noqa: S105 - the message for an empty field, not a password
    if not errors:
        # A mobile number stands for the one citizen registered with it; axes counts failures
        # under the username it resolves to, so both spellings share one lockout.
        found = persons.citizens_by_mobile(identifier)
        username = found[0].username if len(found) == 1 else identifier
        account = authenticate(request, username=username, password=password)
        if account is None:
            known = found[0] if len(found) == 1 else Account.objects.filter(username=username).first()
            locked = bool(getattr(request, "axes_locked_out", False))
            persons.sign_in_failed(
                method="password",
                identifier=identifier,
                account=known,
                client_ip=client_ip(request),
                reason="已锁定" if locked else "密码错误或账号不存在",
            )
            errors["form"] = "手机号、用户名或密码不正确，请核对后重新输入（注意区分大小写）。"
        elif getattr(account, "kind", None) != Account.Kind.CITIZEN:
            errors["form"] = "这是工作人员账号，不能在这里登录。工作人员请从运营管理后台登录。"
            status = 403
        else:
            _after_sign_in(request, account, "password")  # type: ignore[arg-type]
            return HttpResponseRedirect(context["next"])
    return render(request, "portal/login.html", context, status=status)


def _code_login(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    errors: dict[str, str] = context["errors"]
    action = request.POST.get("action", "send")
    mobile_raw = request.POST.get("mobile", "").strip()[:20]
    context["mobile"] = mobile_raw
    if action == "send":
        mobile, notice, status = _otp_request(request, mobile_raw, "login", errors)
        if not errors:
            context.update(mobile=mobile, sent=notice, masked=mask_mobile(mobile), wait=_resend_wait())
        return render(request, "portal/login.html", context, status=status)
    mobile = persons.normalise_mobile(mobile_raw)
    context.update(mobile=mobile, sent="code", masked=mask_mobile(mobile), wait=_resend_wait())
    if rate_limited(request, "login", LOGIN_PER_MINUTE):
        errors["form"] = "登录尝试太频繁，为保护账号安全已暂停。请 1 分钟后再试。"
        return render(request, "portal/login.html", context, status=429)
    code = request.POST.get("code", "").strip()[:12]
    if not code:
        errors["code"] = "请输入短信里的 6 位验证码。"
        return render(request, "portal/login.html", context, status=400)
    try:
        account = persons.person_login_otp(mobile=mobile, code=code)
    except DomainError as exc:
        found = persons.citizens_by_mobile(mobile)
        persons.sign_in_failed(
            method="otp", identifier=mobile, account=found[0] if len(found) == 1 else None, client_ip=client_ip(request), reason=exc.code
        )
        errors_from(exc, errors, {"mobile", "code"})
        if exc.code.startswith("otp_"):
            errors["code"] = errors.pop("form", exc.message)
        return render(request, "portal/login.html", context, status=exc.status if exc.status != 422 else 400)
    _after_sign_in(request, account, "otp")
    return HttpResponseRedirect(context["next"])


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    sign_out(request, reason="用户退出登录")
    messages.info(request, "您已退出登录。在公共设备上使用后，请关闭浏览器。")
    return HttpResponseRedirect("/")


def locked_out(request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: too many wrong passwords for one username from this address."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    if request.path.startswith("/console"):
        response = render(
            request,
            "console/message.html",
            {
                "title": "登录已暂停",
                "message": f"这个账号在当前网络连续输错密码，已暂停登录 {minutes} 分钟。请稍后再试，或联系本单位管理员。",
            },
            status=429,
        )
    else:
        context = {"minutes": minutes, "limit": settings.AXES_FAILURE_LIMIT, "next": _safe_next(request)}
        response = render(request, "portal/locked.html", context, status=429)
    response["Retry-After"] = str(minutes * 60)
    add_never_cache_headers(response)
    return response


# --- register -----------------------------------------------------------------------------------------


@sensitive_post_parameters("password", "code")
@never_cache
@require_http_methods(["GET", "POST"])
def register_view(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"errors": {}, "mobile": "", "sent": "", "display_name": ""}
    if request.method == "GET":
        if visitor(request).citizen is not None:
            return HttpResponseRedirect(reverse("portal:me"))
        return render(request, "portal/register.html", context)
    errors: dict[str, str] = context["errors"]
    mobile_raw = request.POST.get("mobile", "").strip()[:20]
    context["mobile"] = mobile_raw
    if request.POST.get("action", "send") == "send":
        mobile, notice, status = _otp_request(request, mobile_raw, "register", errors)
        if not errors:
            context.update(mobile=mobile, sent=notice, masked=mask_mobile(mobile), wait=_resend_wait())
        return render(request, "portal/register.html", context, status=status)

    mobile = persons.normalise_mobile(mobile_raw)
    display_name = request.POST.get("display_name", "").strip()[:60]
    context.update(mobile=mobile, sent="code", masked=mask_mobile(mobile), wait=_resend_wait(), display_name=display_name)
    if rate_limited(request, "register", REGISTER_PER_MINUTE):
        errors["form"] = "操作太频繁，请 1 分钟后再试。"
        return render(request, "portal/register.html", context, status=429)
    code = request.POST.get("code", "").strip()[:12]
    password = request.POST.get("password", "")[:PASSWORD_MAX]
    if not code:
        errors["code"] = "请输入短信里的 6 位验证码。"
    if not password:
        errors["password"] = "请设置登录密码，至少 12 个字符。"  # noqa: S105 - a message, not a password
    if not display_name:
        errors["display_name"] = "请填写您的姓名或称呼。"
    if errors:
        return render(request, "portal/register.html", context, status=400)
    try:
        account = persons.person_register(
            mobile=mobile, code=code, password=password, display_name=display_name, client_ip=client_ip(request)
        )
    except DomainError as exc:
        errors_from(exc, errors, {"mobile", "code", "password", "display_name"})
        if exc.code.startswith("otp_"):
            errors["code"] = errors.pop("form", exc.message)
        if exc.code == "mobile_registered":
            context["registered"] = True
        return render(request, "portal/register.html", context, status=409 if exc.code == "mobile_registered" else 400)
    _after_sign_in(request, account, "otp")
    messages.success(request, "注册成功，欢迎使用通办！完成实名认证后可以在网上办理更多事项。")
    return HttpResponseRedirect(reverse("portal:me"))


# --- forgotten password ------------------------------------------------------------------------------


@sensitive_post_parameters("password", "code")
@never_cache
@require_http_methods(["GET", "POST"])
def password_reset_view(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"errors": {}, "mobile": "", "sent": ""}
    if request.method == "GET":
        return render(request, "portal/password_reset.html", context)
    errors: dict[str, str] = context["errors"]
    mobile_raw = request.POST.get("mobile", "").strip()[:20]
    context["mobile"] = mobile_raw
    if request.POST.get("action", "send") == "send":
        mobile, notice, status = _otp_request(request, mobile_raw, "reset", errors)
        if not errors:
            context.update(mobile=mobile, sent=notice, masked=mask_mobile(mobile), wait=_resend_wait())
        return render(request, "portal/password_reset.html", context, status=status)

    mobile = persons.normalise_mobile(mobile_raw)
    context.update(mobile=mobile, sent="code", masked=mask_mobile(mobile), wait=_resend_wait())
    if rate_limited(request, "register", REGISTER_PER_MINUTE):
        errors["form"] = "操作太频繁，请 1 分钟后再试。"
        return render(request, "portal/password_reset.html", context, status=429)
    code = request.POST.get("code", "").strip()[:12]
    password = request.POST.get("password", "")[:PASSWORD_MAX]
    if not code:
        errors["code"] = "请输入短信里的 6 位验证码。"
    if not password:
        errors["password"] = "请设置新的登录密码，至少 12 个字符。"  # noqa: S105 - a message, not a password
    if errors:
        return render(request, "portal/password_reset.html", context, status=400)
    try:
        persons.password_reset(mobile=mobile, code=code, new=password)
    except DomainError as exc:
        errors_from(exc, errors, {"mobile", "code", "password"})
        if exc.code.startswith("otp_"):
            errors["code"] = errors.pop("form", exc.message)
        return render(request, "portal/password_reset.html", context, status=400)
    sign_out(request, reason="重设密码")
    messages.success(request, "密码已重设，所有设备上的登录都已退出。请用新密码登录。")
    return HttpResponseRedirect(login_url())
