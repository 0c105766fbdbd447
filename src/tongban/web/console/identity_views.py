"""Identity pages of the console: staff sign-in with a second factor, the signed-in staff member's
own security (TOTP, password), and for operators the application register, staff roles and the
account import. Department administrators manage the roles of their own department's staff.

Sign-in runs in two steps. The password is checked by ``authenticate(request, …)`` (so django-axes
counts failures per username and address); the session then only remembers who is half-way
(``PENDING_KEY``, five minutes). The second step is a TOTP code — or, for staff who never enrolled,
the enrolment itself, proved by a first code. Only then does ``sign_in`` make the session
authenticated (a new session id, a ``LoginSession``). Wrong codes count as failed sign-ins for
axes, and five in one attempt send the person back to the password.

Staff who are signed in but lack a second factor or whose password is too old are sent by
``console_view`` to the enrolment or password page before any other page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, update_session_auth_hash
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import redirect_to_login
from django.core.validators import URLValidator
from django.db.models import Prefetch, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from tongban.common.crypto import seal, unseal
from tongban.common.errors import DomainError
from tongban.common.ratelimit import rate_limited
from tongban.identity import access, applications, staff
from tongban.identity import accounts_import as importer
from tongban.identity.models import Account, ApiClient, OidcApplication, StaffRole
from tongban.org.models import Department
from tongban.web.console.access import console_view, forbidden, operator_view
from tongban.web.console.forms import ConsoleLoginForm
from tongban.web.console.views import not_found
from tongban.web.signin import sign_in, sign_out

View = Callable[..., HttpResponse]

PENDING_KEY = "tb_console_pending"
CANDIDATE_KEY = "tb_totp_candidate"
CANDIDATE_CONTEXT = "session.totp_candidate"
PENDING_SECONDS = 300
CODE_ATTEMPTS = 5
LOGIN_PER_MINUTE = 60  # per address, both steps: a hall behind one NAT signs in at nine
LOCKED_MESSAGE = "登录失败次数过多，此账号在本设备上已被暂时锁定。请 {minutes} 分钟后再试，或联系平台运营人员。"
STAFF_PAGE_SIZE = 100


def _safe_next(request: HttpRequest, default: str = "console:home") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return resolve_url(default)


def _locked_message() -> str:
    return LOCKED_MESSAGE.format(minutes=int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))


def _never_cache(response: HttpResponse) -> HttpResponse:
    add_never_cache_headers(response)
    return response


# --- sign-in, step 1: username and password ------------------------------------------------------


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request)
    user = request.user
    if user.is_authenticated and user.is_staff:
        return _never_cache(HttpResponseRedirect(next_url))
    status = 200
    error = ""
    if request.method == "POST":
        form = ConsoleLoginForm(request, data=request.POST)
        if rate_limited(request, "console-login", LOGIN_PER_MINUTE):
            error, status = "登录尝试太频繁，为保护账号安全已暂停。请 1 分钟后再试。", 429
        elif form.is_valid():
            account = form.get_user()
            request.session.cycle_key()  # nothing planted before the password survives it
            request.session[PENDING_KEY] = {"account": str(account.public_id), "at": time.time(), "next": next_url, "failures": 0}
            request.session.pop(CANDIDATE_KEY, None)
            step = "console:identity_login_code" if staff.totp_enrolled(account) else "console:identity_login_enrol"
            return _never_cache(redirect(step))
        elif _axes_took(request):
            error, status = _locked_message(), 429
        else:
            status = 400
    else:
        form = ConsoleLoginForm(request)
    return _never_cache(
        render(request, "console/login.html", {"title": "登录", "form": form, "next": next_url, "error": error}, status=status)
    )


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    sign_out(request, reason="工作人员退出登录")
    request.session.pop(PENDING_KEY, None)
    return _never_cache(redirect("console:login"))


# --- sign-in, step 2: the code (or enrolment) -----------------------------------------------------


def _pending(request: HttpRequest) -> tuple[Account | None, dict[str, Any]]:
    state = request.session.get(PENDING_KEY)
    if not isinstance(state, dict) or time.time() - float(state.get("at", 0)) > PENDING_SECONDS:
        request.session.pop(PENDING_KEY, None)
        return None, {}
    account = Account.objects.filter(public_id=str(state.get("account", "")), is_active=True, is_staff=True).first()
    if account is None or not staff.is_staff_account(account):
        request.session.pop(PENDING_KEY, None)
        return None, {}
    return account, state


def _back_to_password(request: HttpRequest, message: str) -> HttpResponse:
    request.session.pop(PENDING_KEY, None)
    request.session.pop(CANDIDATE_KEY, None)
    messages.error(request, message)
    return _never_cache(redirect("console:login"))


def _code_failed(request: HttpRequest, account: Account, state: dict[str, Any]) -> HttpResponse | None:
    """Count a wrong code (for axes too). Returns a response when this attempt is over."""
    user_login_failed.send(sender=__name__, credentials={"username": account.username}, request=request)
    state["failures"] = int(state.get("failures", 0)) + 1
    request.session[PENDING_KEY] = state
    if _axes_took(request):
        return _back_to_password(request, _locked_message())
    if state["failures"] >= CODE_ATTEMPTS:
        return _back_to_password(request, "验证码连续输错多次，请重新输入用户名和密码。")
    return None


def _locked(request: HttpRequest, account: Account) -> bool:
    return bool(AxesProxyHandler.is_locked(request, {"username": account.username}))


def _finish_sign_in(request: HttpRequest, account: Account, state: dict[str, Any]) -> HttpResponse:
    request.session.pop(PENDING_KEY, None)
    request.session.pop(CANDIDATE_KEY, None)
    sign_in(request, account, method="totp")
    request.session.set_expiry(settings.STAFF_SESSION_IDLE_SECONDS)  # from this very response on
    next_url = state.get("next") or resolve_url("console:home")
    return _never_cache(HttpResponseRedirect(next_url))


class CodeForm(forms.Form):
    code = forms.CharField(
        label="动态验证码",
        max_length=8,
        help_text="打开手机上的身份验证器应用（如 Microsoft Authenticator、Google 身份验证器、FreeOTP），输入“通办”的 6 位数字。",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9 ]*", "autofocus": True}),
    )

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        if len(code) != staff.TOTP_DIGITS or not code.isdigit():
            raise forms.ValidationError("请输入 6 位数字验证码。")
        return code


@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def login_code(request: HttpRequest) -> HttpResponse:
    account, state = _pending(request)
    if account is None:
        return _never_cache(redirect("console:login"))
    if not staff.totp_enrolled(account):
        return _never_cache(redirect("console:identity_login_enrol"))
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if rate_limited(request, "console-login", LOGIN_PER_MINUTE):
            form.add_error(None, "尝试太频繁，请 1 分钟后再试。")
            status = 429
        elif _locked(request, account):
            return _back_to_password(request, _locked_message())
        elif form.is_valid() and staff.totp_verify(account=account, code=form.cleaned_data["code"]):
            return _finish_sign_in(request, account, state)
        else:
            if form.is_valid():
                form.add_error("code", "验证码不正确或已使用过，请等手机上出现新的验证码后再输入。")
            over = _code_failed(request, account, state)
            if over is not None:
                return over
            status = 400
    return _never_cache(
        render(request, "console/identity/login_code.html", {"title": "输入动态验证码", "form": form, "account": account}, status=status)
    )


def _candidate(request: HttpRequest) -> str:
    """The secret being enrolled, kept sealed in the session until a first code proves it."""
    sealed = request.session.get(CANDIDATE_KEY)
    if isinstance(sealed, str) and sealed:
        try:
            return unseal(sealed, context=CANDIDATE_CONTEXT)
        except ValueError:
            pass
    secret = staff.totp_new_secret()
    request.session[CANDIDATE_KEY] = seal(secret, context=CANDIDATE_CONTEXT)
    return secret


def _enrolment_context(account: Account, secret: str) -> dict[str, Any]:
    return {
        "account": account,
        "provisioning_uri": staff.totp_provisioning_uri(account, secret),
        "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
    }


@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def login_enrol(request: HttpRequest) -> HttpResponse:
    account, state = _pending(request)
    if account is None:
        return _never_cache(redirect("console:login"))
    if staff.totp_enrolled(account):
        return _never_cache(redirect("console:identity_login_code"))
    secret = _candidate(request)
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if rate_limited(request, "console-login", LOGIN_PER_MINUTE):
            form.add_error(None, "尝试太频繁，请 1 分钟后再试。")
            status = 429
        elif _locked(request, account):
            return _back_to_password(request, _locked_message())
        elif form.is_valid() and staff.totp_confirm(account=account, secret=secret, code=form.cleaned_data["code"]):
            messages.success(request, "动态验证码已绑定。以后每次登录都需要输入验证器上的 6 位数字。")
            return _finish_sign_in(request, account, state)
        else:
            if form.is_valid():
                form.add_error("code", "验证码不正确。请确认扫描的是本页的二维码，手机时间准确，再输入新出现的 6 位数字。")
            over = _code_failed(request, account, state)
            if over is not None:
                return over
            status = 400
    context = {"title": "绑定动态验证码", "form": form, **_enrolment_context(account, secret)}
    return _never_cache(render(request, "console/identity/login_enrol.html", context, status=status))


# --- the signed-in staff member's own security ------------------------------------------------------


def staff_self_view(view: View) -> View:
    """A signed-in staff member, whatever they still have to do (these are the pages they are sent
    to: enrolment and password change)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), resolve_url("console:login"))
        if not (user.is_active and user.is_staff and staff.is_staff_account(user)):
            return forbidden(request, "此账号不是工作人员账号，不能使用运营管理后台。")
        return _never_cache(view(request, *args, **kwargs))

    return wrapper


def _axes_took(request: HttpRequest) -> bool:
    """Whether django-axes locked this request out. The flag is cleared: we answer in Chinese
    ourselves instead of letting axes replace the response."""
    if getattr(request, "axes_locked_out", False):
        request.axes_locked_out = False  # type: ignore[attr-defined]
        return True
    return False


def _current_password_refused(request: HttpRequest, account: Account, form: forms.Form, field: str) -> int | None:
    """Check the current password typed into ``field`` through authentication, so wrong guesses
    count for axes. On a refusal the error goes on the form and the status is returned (429 when
    the guesses locked the account out here)."""
    if authenticate(request, username=account.username, password=form.cleaned_data[field]) is not None:
        return None
    if _axes_took(request):
        form.add_error(None, _locked_message())
        return 429
    form.add_error(field, "当前密码不正确。")
    return 400


class ReEnrolForm(CodeForm):
    password = forms.CharField(label="当前登录密码", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    field_order = ["password", "code"]


@staff_self_view
@sensitive_post_parameters("password", "code")
@require_http_methods(["GET", "POST"])
def account_totp(request: HttpRequest) -> HttpResponse:
    account: Account = request.user  # type: ignore[assignment]
    secret = _candidate(request)
    form = ReEnrolForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            refused = _current_password_refused(request, account, form, "password")
            if refused:
                status = refused
            elif staff.totp_confirm(account=account, secret=secret, code=form.cleaned_data["code"]):
                request.session.pop(CANDIDATE_KEY, None)
                messages.success(request, "动态验证码已绑定到新的验证器，原来的验证器不再有效。")
                return redirect(_safe_next(request))
            else:
                form.add_error("code", "验证码不正确。请确认扫描的是本页的二维码，手机时间准确，再输入新出现的 6 位数字。")
    context = {
        "title": "动态验证码",
        "section": "account",
        "form": form,
        "enrolled": staff.totp_enrolled(account),
        "may_manage_staff": staff.console_requirement(account) is None and _may_manage_staff(account),
        "next": _safe_next(request),
        **_enrolment_context(account, secret),
    }
    return render(request, "console/identity/account_totp.html", context, status=status)


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(label="当前密码", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    new_password = forms.CharField(
        label="新密码",
        strip=False,
        help_text=staff.StaffPasswordValidator().get_help_text() + "不能与当前密码相同。",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    new_password_again = forms.CharField(
        label="再次输入新密码", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account

    def clean_new_password(self) -> str:
        password = self.cleaned_data["new_password"]
        problems = staff.staff_password_problems(password, self.account)
        if problems:
            raise forms.ValidationError(problems)
        return password

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("new_password") and data.get("new_password_again") != data["new_password"]:
            self.add_error("new_password_again", "两次输入的新密码不一致。")
        return data


@staff_self_view
@sensitive_post_parameters("old_password", "new_password", "new_password_again")
@require_http_methods(["GET", "POST"])
def account_password(request: HttpRequest) -> HttpResponse:
    account: Account = request.user  # type: ignore[assignment]
    form = PasswordChangeForm(request.POST or None, account=account)
    status = 200
    error: DomainError | None = None
    if request.method == "POST":
        status = 400
        if form.is_valid():
            refused = _current_password_refused(request, account, form, "old_password")
            if refused:
                status = refused
            else:
                try:
                    staff.password_change(account=account, new_password=form.cleaned_data["new_password"])
                except DomainError as exc:
                    error, status = exc, exc.status
                else:
                    update_session_auth_hash(request, account)  # this session stays; the others end
                    messages.success(request, "密码已修改。")
                    return redirect(_safe_next(request))
    context = {
        "title": "修改密码",
        "section": "account",
        "form": form,
        "error": error,
        "expired": staff.password_expired(account),
        "expires_at": staff.password_expires_at(account),
        "max_age_days": settings.STAFF_PASSWORD_MAX_AGE_DAYS,
        "next": _safe_next(request),
    }
    return render(request, "console/identity/account_password.html", context, status=status)


# --- applications (operators) -----------------------------------------------------------------------


def _lines(value: str) -> list[str]:
    return [part for part in value.replace("\r", "\n").replace(" ", "\n").split("\n") if part.strip()]


class DepartmentCodeField(forms.CharField):
    def clean(self, value: Any) -> Department | None:  # type: ignore[override]
        code = (super().clean(value) or "").strip().upper()
        if not code:
            return None
        department = Department.objects.filter(credit_code=code).first()
        if department is None:
            raise forms.ValidationError(f"没有统一社会信用代码为“{code}”的部门。")
        return department


class ApplicationForm(forms.Form):
    name = forms.CharField(label="应用名称", max_length=100, help_text="群众在授权页上看到的名称，例如“南昌市公积金网上服务”。")
    grant_type = forms.ChoiceField(
        label="授权方式",
        choices=list(applications.GRANT_LABELS.items()),
        widget=forms.RadioSelect,
        initial=applications.GRANT_AUTHORIZATION_CODE,
        help_text="用户通过平台登录应用选“授权码”；部门系统调用平台接口选“客户端凭证”。两者都需要时请分别登记两个应用。",
    )
    client_type = forms.ChoiceField(
        label="客户端类型", choices=list(applications.CLIENT_TYPE_LABELS.items()), widget=forms.RadioSelect, initial="confidential"
    )
    redirect_uris = forms.CharField(
        label="回调地址",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="每行一个完整地址，必须使用 https（本机调试可用 http://127.0.0.1）。",
    )
    post_logout_redirect_uris = forms.CharField(
        label="退出后跳转地址", required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="可不填。每行一个。"
    )
    backchannel_logout_uri = forms.CharField(
        label="后端通道退出地址", required=False, max_length=500, help_text="可不填。用户在任一处退出时，平台向此地址发送签名的退出令牌。"
    )
    scopes = forms.MultipleChoiceField(label="允许的授权范围", widget=forms.CheckboxSelectMultiple)
    id_number_reason = forms.CharField(
        label="获取完整身份证号的用途和依据",
        required=False,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="选择“完整的公民身份号码”时必填，例如依据的法规条款。每次提供都会记录。",
    )
    department = DepartmentCodeField(label="所属部门（统一社会信用代码）", required=False, max_length=18, help_text="可不填。")
    api_client = forms.ModelChoiceField(
        label="关联接入系统",
        required=False,
        queryset=ApiClient.objects.none(),
        empty_label="不关联",
        help_text="客户端凭证方式可选：关联后，该部门系统可用此应用的令牌调用消息接口（范围选“统一消息中心”）。",
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scope_field: Any = self.fields["scopes"]
        scope_field.choices = [(k, f"{v}（{k}）") for k, v in applications.scope_labels().items()]
        if editing:
            for name in ("grant_type", "client_type", "api_client"):
                del self.fields[name]
        else:
            self.fields["api_client"].queryset = ApiClient.objects.filter(application__isnull=True, is_active=True).order_by("name")  # type: ignore[attr-defined]

    def clean_backchannel_logout_uri(self) -> str:
        url = self.cleaned_data["backchannel_logout_uri"].strip()
        if url:
            try:
                URLValidator(schemes=["https", "http"])(url)
            except forms.ValidationError as exc:
                raise forms.ValidationError("地址无效，请填写完整的 https:// 地址。") from exc
        return url

    def app_data(self) -> applications.AppData:
        data = self.cleaned_data
        return applications.AppData(
            name=data["name"],
            redirect_uris=_lines(data["redirect_uris"]),
            post_logout_redirect_uris=_lines(data["post_logout_redirect_uris"]),
            backchannel_logout_uri=data["backchannel_logout_uri"],
            scopes=list(data["scopes"]),
            id_number_reason=data["id_number_reason"],
            department=data["department"],
            client_type=data.get("client_type", ""),
            grant_type=data.get("grant_type", ""),
        )


FIELD_FOR_CODE = {
    "name_required": "name",
    "application_exists": "name",
    "invalid_uri": None,
    "redirect_uri_required": "redirect_uris",
    "openid_required": "scopes",
    "scope_required": "scopes",
    "system_scope": "scopes",
    "invalid_scope": "scopes",
    "id_number_reason_required": "id_number_reason",
    "id_number_not_allowed": "scopes",
    "public_client_credentials": "client_type",
    "api_client_needs_client_credentials": "api_client",
    "api_client_linked": "api_client",
}


def _issuer() -> str:
    return str(settings.OAUTH2_PROVIDER["OIDC_ISS_ENDPOINT"])


def _app_tabs(tab: str) -> dict[str, Any]:
    return {"section": "identity", "tab": tab}


def _app_rows(apps: Any) -> list[dict[str, Any]]:
    labels = applications.scope_labels()
    return [
        {
            "app": app,
            "disabled": applications.is_disabled(app),
            "grant": applications.GRANT_LABELS.get(app.authorization_grant_type, app.authorization_grant_type),
            "scopes": [labels.get(s, s) for s in app.allowed_scopes.split()],
            "api_client": getattr(app, "api_client", None),
        }
        for app in apps
    ]


@operator_view
@require_http_methods(["GET"])
def apps(request: HttpRequest) -> HttpResponse:
    rows = _app_rows(OidcApplication.objects.select_related("department", "api_client").order_by("name"))
    return render(request, "console/identity/apps.html", {"title": "接入应用", **_app_tabs("apps"), "rows": rows})


def _add_domain_error(form: forms.Form, exc: DomainError) -> None:
    name = FIELD_FOR_CODE.get(exc.code)
    form.add_error(name if name in form.fields else None, exc.message)


@operator_view
@require_http_methods(["GET", "POST"])
def app_new(request: HttpRequest) -> HttpResponse:
    form = ApplicationForm(request.POST or None, initial={"scopes": ["openid", "profile"]})
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                app, secret = applications.application_create(
                    actor=request.user, data=form.app_data(), api_client=form.cleaned_data.get("api_client")
                )
            except DomainError as exc:
                _add_domain_error(form, exc)
                status = exc.status
            else:
                context = {"title": "应用已登记", **_app_tabs("apps"), "app": app, "secret": secret, "created": True, "issuer": _issuer()}
                return render(request, "console/identity/app_secret.html", context)
    return render(request, "console/identity/app_form.html", {"title": "登记接入应用", **_app_tabs("apps"), "form": form}, status=status)


def _app_or_404(request: HttpRequest, public_id: Any) -> OidcApplication | HttpResponse:
    app = OidcApplication.objects.select_related("department").filter(public_id=public_id).first()
    if app is None:
        return not_found(request, "没有找到这个应用，可能已被删除。")
    return app


def _app_initial(app: OidcApplication) -> dict[str, Any]:
    return {
        "name": app.name,
        "redirect_uris": "\n".join(app.redirect_uris.split()),
        "post_logout_redirect_uris": "\n".join(app.post_logout_redirect_uris.split()),
        "backchannel_logout_uri": app.backchannel_logout_uri,
        "scopes": app.allowed_scopes.split(),
        "id_number_reason": app.id_number_reason,
        "department": app.department.credit_code if app.department else "",
    }


@operator_view
@require_http_methods(["GET", "POST"])
def app_edit(request: HttpRequest, public_id: Any) -> HttpResponse:
    app = _app_or_404(request, public_id)
    if isinstance(app, HttpResponse):
        return app
    form = ApplicationForm(request.POST or None, initial=_app_initial(app), editing=True)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                applications.application_update(actor=request.user, application=app, data=form.app_data())
            except DomainError as exc:
                _add_domain_error(form, exc)
                status = exc.status
            else:
                messages.success(request, f"已保存“{form.cleaned_data['name']}”。")
                return redirect("console:identity_apps")
    context = {
        "title": f"应用：{app.name}",
        **_app_tabs("apps"),
        "form": form,
        "app": app,
        "disabled": applications.is_disabled(app),
        "grant": applications.GRANT_LABELS.get(app.authorization_grant_type, ""),
        "client_type": applications.CLIENT_TYPE_LABELS.get(app.client_type, ""),
        "api_client": ApiClient.objects.filter(application=app).first(),
    }
    return render(request, "console/identity/app_form.html", context, status=status)


@operator_view
@require_POST
def app_disable(request: HttpRequest, public_id: Any) -> HttpResponse:
    app = _app_or_404(request, public_id)
    if isinstance(app, HttpResponse):
        return app
    try:
        applications.application_disable(actor=request.user, application=app, reason=request.POST.get("reason", ""))
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("console:identity_app", public_id=app.public_id)
    messages.success(request, f"已停用“{app.name}”，其令牌已全部作废。重新选择授权范围并保存即可再次启用。")
    return redirect("console:identity_apps")


@operator_view
@require_POST
def app_secret(request: HttpRequest, public_id: Any) -> HttpResponse:
    app = _app_or_404(request, public_id)
    if isinstance(app, HttpResponse):
        return app
    try:
        secret = applications.application_new_secret(actor=request.user, application=app)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("console:identity_app", public_id=app.public_id)
    context = {"title": "新的应用密钥", **_app_tabs("apps"), "app": app, "secret": secret, "issuer": _issuer()}
    return render(request, "console/identity/app_secret.html", context)


# --- staff and roles (operators; department administrators for their department) -------------------


def _may_manage_staff(user: Any) -> bool:
    return access.is_operator(user) or access.departments_for(user, StaffRole.Role.DEPT_ADMIN).exists()


def _visible_staff(user: Any) -> Any:
    """The staff accounts this person may manage, filtered in the query."""
    accounts = Account.objects.filter(kind__in=staff.STAFF_KINDS)
    if access.is_operator(user):
        return accounts
    return access.scope(accounts, user, role=StaffRole.Role.DEPT_ADMIN)


def staff_admin_view(view: View) -> View:
    @wraps(view)
    def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not _may_manage_staff(request.user):
            return forbidden(request, "只有平台运营人员和部门管理员可以管理工作人员的角色。")
        return view(request, *args, **kwargs)

    return console_view(inner)


class RoleGrantForm(forms.Form):
    role = forms.ChoiceField(label="角色")
    department = forms.ModelChoiceField(label="部门", queryset=Department.objects.none(), required=False, empty_label="（不属于部门）")

    def __init__(self, *args: Any, user: Any, member: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if access.is_operator(user):
            roles = list(StaffRole.Role.choices)
            departments = Department.objects.filter(pk=member.department_id) if member.department_id else Department.objects.all()
        else:
            roles = [(r.value, r.label) for r in staff.DEPT_ADMIN_GRANTS]
            own = [member.department_id] if member.department_id else []
            departments = access.departments_for(user, StaffRole.Role.DEPT_ADMIN).filter(pk__in=own)
        role_field: Any = self.fields["role"]
        role_field.choices = roles
        field: Any = self.fields["department"]
        field.queryset = departments.select_related("division")
        field.label_from_instance = lambda d: f"{d.name}（{d.credit_code}）"
        if member.department_id:
            field.initial = member.department_id


@staff_admin_view
@require_http_methods(["GET"])
def staff_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:64]
    accounts = _visible_staff(request.user).select_related("department").order_by("kind", "department__credit_code", "username")
    if q:
        accounts = accounts.filter(Q(username__icontains=q) | Q(display_name__icontains=q) | Q(department__name__icontains=q))
    accounts = accounts.prefetch_related(Prefetch("staff_roles", queryset=StaffRole.objects.select_related("department")))
    rows = list(accounts[: STAFF_PAGE_SIZE + 1])
    context = {
        "title": "工作人员与角色",
        **_app_tabs("staff"),
        "rows": rows[:STAFF_PAGE_SIZE],
        "more": len(rows) > STAFF_PAGE_SIZE,
        "q": q,
        "operator": access.is_operator(request.user),
    }
    return render(request, "console/identity/staff.html", context)


def _member_or_404(request: HttpRequest, public_id: Any) -> Account | HttpResponse:
    member = _visible_staff(request.user).select_related("department").filter(public_id=public_id).first()
    if member is None:
        return not_found(request, "没有找到这位工作人员，或者他不在您管理的部门。")
    return member


@staff_admin_view
@require_http_methods(["GET", "POST"])
def staff_member(request: HttpRequest, public_id: Any) -> HttpResponse:
    member = _member_or_404(request, public_id)
    if isinstance(member, HttpResponse):
        return member
    form = RoleGrantForm(request.POST or None, user=request.user, member=member)
    status = 200
    error: DomainError | None = None
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                _role, created = staff.role_grant(
                    actor=request.user, account=member, role=form.cleaned_data["role"], department=form.cleaned_data["department"]
                )
            except DomainError as exc:
                error, status = exc, exc.status
            else:
                label = staff.ROLE_LABELS[form.cleaned_data["role"]]
                messages.success(request, f"已授予“{label}”。" if created else f"已经拥有“{label}”，无需重复授予。")
                return redirect("console:identity_staff_member", public_id=member.public_id)
    roles = StaffRole.objects.filter(account=member).select_related("department", "granted_by").order_by("role")
    context = {
        "title": f"工作人员：{member}",
        **_app_tabs("staff"),
        "member": member,
        "roles": [{"role": r, "may_revoke": staff.may_manage_role(request.user, r.role, r.department)} for r in roles],
        "form": form,
        "error": error,
        "operator": access.is_operator(request.user),
        "self": member.pk == request.user.pk,
        "totp_enrolled": staff.totp_enrolled(member),
        "password_expired": staff.password_expired(member),
    }
    return render(request, "console/identity/staff_member.html", context, status=status)


@staff_admin_view
@require_POST
def staff_role_revoke(request: HttpRequest, public_id: Any, role_id: int) -> HttpResponse:
    member = _member_or_404(request, public_id)
    if isinstance(member, HttpResponse):
        return member
    staff_role = StaffRole.objects.select_related("department", "account").filter(pk=role_id, account=member).first()
    if staff_role is None:
        return not_found(request, "没有找到这个角色，可能已被收回。")
    try:
        staff.role_revoke(actor=request.user, staff_role=staff_role, reason=request.POST.get("reason", ""))
    except DomainError as exc:
        if exc.status == 403:
            return forbidden(request, exc.message)
        messages.error(request, exc.message)
    else:
        messages.success(request, f"已收回“{staff_role.get_role_display()}”。")
    return redirect("console:identity_staff_member", public_id=member.public_id)


@operator_view
@require_POST
def staff_totp_reset(request: HttpRequest, public_id: Any) -> HttpResponse:
    member = _member_or_404(request, public_id)
    if isinstance(member, HttpResponse):
        return member
    try:
        staff.totp_reset(actor=request.user, account=member, reason=request.POST.get("reason", ""))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"已重置{member}的动态验证码，并让其所有登录失效。下次登录时需重新绑定。")
    return redirect("console:identity_staff_member", public_id=member.public_id)


# --- account import (operators) ---------------------------------------------------------------------


class ImportForm(forms.Form):
    file = forms.FileField(label="账号文件（CSV 或 JSON）", help_text="格式见“导入说明”。文件不超过 10 MB。")
    source = forms.CharField(label="来源系统", max_length=100, help_text="例如“南昌市不动产登记系统”，记录在每个导入账号的审计中。")
    dry_run = forms.BooleanField(label="只检查，不写入（试导入）", required=False, initial=True)


@operator_view
@require_http_methods(["GET", "POST"])
def accounts_import(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    report = None
    error: DomainError | None = None
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
                form.add_error("file", "文件太大，请拆分后分批导入。")
            else:
                try:
                    report = importer.accounts_import(
                        actor=request.user, content=upload.read(), source=form.cleaned_data["source"], dry_run=form.cleaned_data["dry_run"]
                    )
                except DomainError as exc:
                    error, status = exc, exc.status
                else:
                    status = 200
    context = {
        "title": "账号导入",
        **_app_tabs("import"),
        "form": form,
        "report": report,
        "error": error,
        "status_labels": importer.STATUS_LABELS,
        "max_rows": importer.MAX_ROWS,
    }
    return render(request, "console/identity/import.html", context, status=status)


def admin_login(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    """The admin's own sign-in page would let staff in with a password alone: send them to the
    console's sign-in (password and second factor) and back."""
    return _never_cache(redirect_to_login(_safe_next(request, default="admin:index"), resolve_url("console:login")))


def admin_logout(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    """Signing out of the admin signs out of the console (and ends the login session)."""
    return logout(request)
