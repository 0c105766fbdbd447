"""A minimal citizen sign-in with username and password, until the identity work brings mobile
number and one-time code. Only citizen accounts sign in here; staff use the console's own page."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from tongban.common.ratelimit import rate_limited
from tongban.identity.models import Account
from tongban.web.context import visitor
from tongban.web.signin import sign_in, sign_out

LOGIN_PER_MINUTE = 10
USERNAME_MAX = 150


def login_url() -> str:
    return reverse("portal:login")


def citizen_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A signed-in citizen, or off to the sign-in page and back here afterwards. A form posted by
    someone whose session ran out comes back to the page the form belongs to, not to the action."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if visitor(request).citizen is None:
            back = request.get_full_path() if request.method == "GET" else reverse("portal:inbox")
            return redirect_to_login(back, login_url())
        return view(request, *args, **kwargs)

    return wrapper


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return "/"


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request)
    if request.method == "GET":
        if visitor(request).citizen is not None:
            return HttpResponseRedirect(next_url)
        return render(request, "portal/login.html", {"next": next_url, "username": "", "errors": {}})

    username = request.POST.get("username", "").strip()[:USERNAME_MAX]
    password = request.POST.get("password", "")
    errors: dict[str, str] = {}
    status = 400
    if rate_limited(request, "login", LOGIN_PER_MINUTE):
        errors["form"] = "登录尝试太频繁，为保护账号安全已暂停。请 1 分钟后再试。"
        status = 429
    else:
        if not username:
            errors["username"] = "请输入用户名。"
        if not password:
            errors["password"] = "请输入密码。"  # noqa: S105 - the message for an empty field, not a password
    if not errors:
        account = authenticate(request, username=username, password=password)
        if account is None:
            errors["form"] = "用户名或密码不正确，请核对后重新输入（注意区分大小写）。"
        elif getattr(account, "kind", None) != Account.Kind.CITIZEN:
            errors["form"] = "这是工作人员账号，不能在这里登录。工作人员请从运营管理后台登录。"
            status = 403
        else:
            sign_in(request, account, method="password")  # a new session id: a fixed session is worthless
            return HttpResponseRedirect(next_url)
    context = {"next": next_url, "username": username, "errors": errors}
    return render(request, "portal/login.html", context, status=status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    sign_out(request, reason="用户退出登录")
    messages.info(request, "您已退出登录。在公共设备上使用后，请关闭浏览器。")
    return HttpResponseRedirect("/")
