"""The register of applications that sign people in through the platform or call it with client
credentials (``OidcApplication``, django-oauth-toolkit). Operators register them in the console or
with ``tongban oidc-client create``; nobody registers themselves.

Rules checked here, whoever registers:

- scopes only from ``OAUTH2_PROVIDER["SCOPES"]``; ``id_number`` only with a recorded reason;
- an authorisation-code application has at least one redirect URI and asks for ``openid``;
  client credentials need a confidential client; ``messages`` is for department systems using
  client credentials;
- redirect, post-logout and back-channel URIs are absolute ``https`` addresses (``http`` only on
  the loopback host, for development); no fragments;
- ID tokens are signed with RS256.

The client secret is generated here and returned once: django-oauth-toolkit stores only its hash.
A disabled application keeps its record but may ask for no scope (so every authorisation and
token request fails) and its tokens are revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from tongban.common.audit import audit_record, diff
from tongban.common.errors import ValidationFailed
from tongban.identity.models import ApiClient, OidcApplication
from tongban.org.models import Department

GRANT_AUTHORIZATION_CODE = OidcApplication.GRANT_AUTHORIZATION_CODE
GRANT_CLIENT_CREDENTIALS = OidcApplication.GRANT_CLIENT_CREDENTIALS
GRANT_LABELS = {GRANT_AUTHORIZATION_CODE: "授权码（用户登录）", GRANT_CLIENT_CREDENTIALS: "客户端凭证（系统对接）"}
CLIENT_TYPE_LABELS = {
    OidcApplication.CLIENT_CONFIDENTIAL: "机密客户端（服务器端应用）",
    OidcApplication.CLIENT_PUBLIC: "公开客户端（移动应用、单页应用）",
}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
SYSTEM_SCOPES = {"messages", "cases"}  # only for department systems with client credentials


def scope_labels() -> dict[str, str]:
    provider: dict[str, Any] = settings.OAUTH2_PROVIDER
    return {str(k): str(v) for k, v in provider["SCOPES"].items()}


@dataclass
class AppData:
    name: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    backchannel_logout_uri: str
    scopes: list[str]
    id_number_reason: str = ""
    department: Department | None = None
    client_type: str = OidcApplication.CLIENT_CONFIDENTIAL
    grant_type: str = GRANT_AUTHORIZATION_CODE


def is_disabled(application: OidcApplication) -> bool:
    return not application.allowed_scopes.split()


def _check_uri(uri: str, what: str) -> str:
    uri = uri.strip()
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment or any(c.isspace() for c in uri):
        raise ValidationFailed(f"{what}“{uri}”无效：请填写完整的 https:// 地址，不能带“#”片段。", code="invalid_uri")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValidationFailed(f"{what}“{uri}”必须使用 https（只有本机调试地址 127.0.0.1 可以用 http）。", code="insecure_uri")
    return uri


def _check(data: AppData, *, application: OidcApplication | None = None) -> AppData:
    name = data.name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("请填写应用名称（不超过 100 个字）。", code="name_required")
    same_name = OidcApplication.objects.filter(name=name)
    if application is not None:
        same_name = same_name.exclude(pk=application.pk)
    if same_name.exists():
        raise ValidationFailed(f"已存在名为“{name}”的应用。", code="application_exists")
    if data.grant_type not in GRANT_LABELS:
        raise ValidationFailed("授权方式无效。", code="invalid_grant_type")
    if data.client_type not in CLIENT_TYPE_LABELS:
        raise ValidationFailed("客户端类型无效。", code="invalid_client_type")
    known = scope_labels()
    scopes = list(dict.fromkeys(s for s in data.scopes if s))
    unknown = [s for s in scopes if s not in known]
    if unknown:
        raise ValidationFailed(f"未知的授权范围：{'、'.join(unknown)}。", code="invalid_scope")
    if not scopes:
        raise ValidationFailed("请至少选择一个授权范围。", code="scope_required")
    reason = data.id_number_reason.strip()
    if "id_number" in scopes and not reason:
        raise ValidationFailed("申请“完整的公民身份号码”必须填写用途和依据。", code="id_number_reason_required")
    redirects = [_check_uri(u, "回调地址") for u in data.redirect_uris if u.strip()]
    post_logout = [_check_uri(u, "退出后跳转地址") for u in data.post_logout_redirect_uris if u.strip()]
    backchannel = _check_uri(data.backchannel_logout_uri, "后端通道退出地址") if data.backchannel_logout_uri.strip() else ""
    if data.grant_type == GRANT_AUTHORIZATION_CODE:
        if not redirects:
            raise ValidationFailed("授权码方式必须至少填写一个回调地址。", code="redirect_uri_required")
        if "openid" not in scopes:
            raise ValidationFailed("用户登录应用必须包含“登录身份标识”（openid）范围。", code="openid_required")
        if set(scopes) & SYSTEM_SCOPES:
            raise ValidationFailed("“统一消息中心”和“办件接口”范围只用于部门系统的客户端凭证方式。", code="system_scope")
    else:
        if data.client_type != OidcApplication.CLIENT_CONFIDENTIAL:
            raise ValidationFailed("客户端凭证方式只能用于机密客户端。", code="public_client_credentials")
        if "id_number" in scopes:
            raise ValidationFailed("客户端凭证方式不代表任何个人，不能申请公民身份号码。", code="id_number_not_allowed")
    return AppData(
        name=name,
        redirect_uris=redirects,
        post_logout_redirect_uris=post_logout,
        backchannel_logout_uri=backchannel,
        scopes=scopes,
        id_number_reason=reason if "id_number" in scopes else "",
        department=data.department,
        client_type=data.client_type,
        grant_type=data.grant_type,
    )


def _snapshot(app: OidcApplication) -> dict[str, Any]:
    return {
        "name": app.name,
        "client_id": app.client_id,
        "client_type": app.client_type,
        "grant_type": app.authorization_grant_type,
        "redirect_uris": app.redirect_uris,
        "post_logout_redirect_uris": app.post_logout_redirect_uris,
        "backchannel_logout_uri": app.backchannel_logout_uri,
        "scopes": app.allowed_scopes,
        "id_number_reason": app.id_number_reason,
        "department": app.department.credit_code if app.department_id and app.department else None,
    }


def application_create(
    *, actor: Any, data: AppData, api_client: ApiClient | None = None, client_id: str = "", client_secret: str = ""
) -> tuple[OidcApplication, str]:
    """Register an application. Returns it and its client secret in clear, once (empty for a public
    client). ``client_id``/``client_secret`` fix them (the demo); otherwise they are generated."""
    clean = _check(data)
    if api_client is not None:
        if clean.grant_type != GRANT_CLIENT_CREDENTIALS:
            raise ValidationFailed("只有客户端凭证方式的应用可以关联接入系统。", code="api_client_needs_client_credentials")
        if api_client.application_id is not None:
            raise ValidationFailed(f"接入系统“{api_client.name}”已关联了应用。", code="api_client_linked")
    if client_id and OidcApplication.objects.filter(client_id=client_id).exists():
        raise ValidationFailed(f"客户端编号“{client_id}”已被使用。", code="client_id_exists")
    secret = client_secret or generate_client_secret()
    with transaction.atomic():
        app = OidcApplication(
            name=clean.name,
            client_type=clean.client_type,
            authorization_grant_type=clean.grant_type,
            redirect_uris=" ".join(clean.redirect_uris),
            post_logout_redirect_uris=" ".join(clean.post_logout_redirect_uris),
            backchannel_logout_uri=clean.backchannel_logout_uri,
            allowed_scopes=" ".join(clean.scopes),
            id_number_reason=clean.id_number_reason,
            department=clean.department,
            algorithm=OidcApplication.RS256_ALGORITHM,
            skip_authorization=False,
            hash_client_secret=True,
            client_secret=secret,  # hashed by django-oauth-toolkit on save
        )
        if client_id:
            app.client_id = client_id
        app.save()
        if api_client is not None:
            api_client.application = app
            api_client.save(update_fields=["application"])
        after = _snapshot(app)
        if api_client is not None:
            after["api_client"] = api_client.name
        audit_record(actor=actor, action="application.create", object_type="oidc_application", object_id=str(app.public_id), after=after)
    return app, secret if clean.client_type == OidcApplication.CLIENT_CONFIDENTIAL else ""


def application_update(*, actor: Any, application: OidcApplication, data: AppData) -> OidcApplication:
    """Change what an operator may change (client type and grant type stay as registered).
    Saving scopes re-enables a disabled application."""
    data.client_type, data.grant_type = application.client_type, application.authorization_grant_type
    clean = _check(data, application=application)
    with transaction.atomic():
        app = OidcApplication.objects.select_for_update().get(pk=application.pk)
        before = _snapshot(app)
        app.name = clean.name
        app.redirect_uris = " ".join(clean.redirect_uris)
        app.post_logout_redirect_uris = " ".join(clean.post_logout_redirect_uris)
        app.backchannel_logout_uri = clean.backchannel_logout_uri
        app.allowed_scopes = " ".join(clean.scopes)
        app.id_number_reason = clean.id_number_reason
        app.department = clean.department
        app.save()
        old, new = diff(before, _snapshot(app))
        if new:
            audit_record(
                actor=actor,
                action="application.update",
                object_type="oidc_application",
                object_id=str(app.public_id),
                before=old,
                after=new,
            )
    return app


def _revoke_tokens(app: OidcApplication) -> int:
    count = 0
    for refresh in get_refresh_token_model().objects.filter(application=app, revoked__isnull=True):
        refresh.revoke()
        count += 1
    for token in get_access_token_model().objects.filter(application=app):
        token.revoke()
        count += 1
    return count


def application_disable(*, actor: Any, application: OidcApplication, reason: str) -> OidcApplication:
    """Stop an application: it may ask for nothing any more and its tokens are revoked now."""
    if not reason.strip():
        raise ValidationFailed("请填写停用原因。", code="reason_required")
    with transaction.atomic():
        app = OidcApplication.objects.select_for_update().get(pk=application.pk)
        if is_disabled(app):
            return app
        before = {"scopes": app.allowed_scopes}
        app.allowed_scopes = ""
        app.save(update_fields=["allowed_scopes", "updated"])
        revoked = _revoke_tokens(app)
        audit_record(
            actor=actor,
            action="application.disable",
            object_type="oidc_application",
            object_id=str(app.public_id),
            before=before,
            after={"scopes": "", "tokens_revoked": revoked},
            reason=reason.strip(),
        )
    return app


def application_new_secret(*, actor: Any, application: OidcApplication) -> str:
    """Issue a new client secret (the old one stops working at once). Returned once."""
    if application.client_type != OidcApplication.CLIENT_CONFIDENTIAL:
        raise ValidationFailed("公开客户端没有密钥。", code="public_client")
    secret = generate_client_secret()
    with transaction.atomic():
        app = OidcApplication.objects.select_for_update().get(pk=application.pk)
        app.client_secret = secret
        app.save(update_fields=["client_secret", "updated"])
        audit_record(actor=actor, action="application.new_secret", object_type="oidc_application", object_id=str(app.public_id))
    return secret
