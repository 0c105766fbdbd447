"""Who may enter the console and who may change things there.

Every console view is wrapped in one of two decorators:

- `console_view`: a signed-in, active account with `is_staff`. Anonymous visitors go to the login page;
  signed-in accounts without `is_staff` (citizens) get 403. Staff without a second factor, or
  whose password is older than `STAFF_PASSWORD_MAX_AGE_DAYS`, are sent to enrol or to choose a
  new password before any other page (`identity.staff.console_requirement`).
- `operator_view`: as above, and the account is a platform operator (`Account.Kind.OPERATOR`). Department
  staff get 403, on the form pages as well as on the writes behind them. Such views carry
  `operator_only = True` so tests can walk them all.

Responses are never cached: they show unpublished data.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.cache import add_never_cache_headers

from tongban.identity.staff import console_requirement

View = Callable[..., HttpResponse]


def is_operator(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_staff and user.is_operator)


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    response = render(request, "console/message.html", {"title": "无权访问", "message": message}, status=403)
    add_never_cache_headers(response)
    return response


def console_view(view: View) -> View:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), resolve_url("console:login"))
        if not (user.is_active and user.is_staff):
            return forbidden(request, "此账号不是工作人员账号，不能使用运营管理后台。")
        step = console_requirement(user)
        if step is not None:
            target = resolve_url("console:identity_totp" if step == "totp" else "console:identity_password")
            if request.method == "GET":
                target += "?" + urlencode({"next": request.get_full_path()})
            sent = redirect(target)
            add_never_cache_headers(sent)
            return sent
        response = view(request, *args, **kwargs)
        add_never_cache_headers(response)
        return response

    return wrapper


def operator_view(view: View) -> View:
    @wraps(view)
    def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_operator(request.user):
            return forbidden(request, "只有平台运营人员可以进行此操作。部门工作人员可以查看本部门的事项。")
        return view(request, *args, **kwargs)

    wrapper = console_view(inner)
    wrapper.operator_only = True  # type: ignore[attr-defined]
    return wrapper
