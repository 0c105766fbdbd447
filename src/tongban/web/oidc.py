"""The OpenID Connect provider's pages: django-oauth-toolkit's views with the platform's rules.

- Authorisation asks for consent once per application and set of scopes (remembered until the
  person revokes it in their account space) and records that this sign-in session signed into
  the application, for single logout. Only the remembered consent (or an in-house application's
  ``skip_authorization``) skips the consent page — never django-oauth-toolkit's "an earlier token
  exists" shortcut, which would bypass both the consent record and the sign-in record.
- PKCE is S256 only (RFC 9700), refused at the authorisation request itself, before any consent
  page is shown.
- Introspection (RFC 7662) answers only the application the token was issued to, by POST, with
  the opaque ``sub`` (never the sign-in name), and reads the mandate a token acts under on every
  call, so a revoked mandate makes its tokens inactive at once.
- RP-initiated logout ends the platform sign-in everywhere (identity.sessions.session_end), which
  sends back-channel logout tokens to every other application of the session; discovery says so.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import json
from typing import Any, cast
from urllib.parse import unquote_plus

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from oauth2_provider import views as dot
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.models import get_access_token_model
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors as oauth2_errors

from tongban.identity import consents, sessions
from tongban.identity.models import Account, OidcApplication
from tongban.web.signin import current_login, sign_out


class AuthorizeView(dot.AuthorizationView):
    template_name = "portal/consent.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            scopes, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)  # as django-oauth-toolkit does
        application = OidcApplication.objects.filter(client_id=credentials["client_id"]).first()
        if application is None:  # pragma: no cover - validation found the client a moment ago
            return super().get(request, *args, **kwargs)
        if oauth2_settings.COMPLIANT_BCP_RFC9700_PKCE_METHOD and credentials.get("code_challenge_method", "S256") != "S256":
            # oauthlib defaults a missing method to "plain"; the toolkit would refuse it only when
            # the code is created, after the person consented.
            plain = oauth2_errors.InvalidRequestError(
                description='Unsupported code_challenge_method; use "S256" (RFC 9700).', state=credentials.get("state")
            )
            return self.error_response(OAuthToolkitError(error=plain, redirect_uri=credentials["redirect_uri"]), application)
        prompt = set(request.GET.get("prompt", "").split())
        person = cast(Account, request.user)  # the toolkit's view requires a signed-in person
        if "login" not in prompt and (
            application.skip_authorization
            or ("consent" not in prompt and consents.covers(account=person, application=application, scopes=scopes))
        ):
            try:
                uri, _headers, _body, _status = self.create_authorization_response(
                    request=request, scopes=" ".join(scopes), credentials=credentials, allow=True
                )
            except OAuthToolkitError as error:
                return self.error_response(error, application)
            self._signed_in(application)
            return self.redirect(uri, application)
        if "none" in prompt:  # oauthlib refuses "none" with any other value
            silent = oauth2_errors.ConsentRequired(state=credentials.get("state"))
            return self.error_response(OAuthToolkitError(error=silent, redirect_uri=credentials["redirect_uri"]), application)
        # Show the consent page. The toolkit's "auto" approval by an earlier token is turned off
        # whatever the client asks (approval_prompt): the remembered consent above is the rule.
        query = request.GET.copy()
        query["approval_prompt"] = "force"
        request.GET = query  # type: ignore[assignment]  # a mutable copy, read by the toolkit below
        return super().get(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        # The toolkit sets success_url only when a code was issued; an error also redirects.
        if form.cleaned_data.get("allow") and self.success_url:
            application = OidcApplication.objects.get(client_id=form.cleaned_data["client_id"])
            consents.grant(account=self.request.user, application=application, scopes=form.cleaned_data["scope"].split())
            self._signed_in(application)
        return response

    def _signed_in(self, application: OidcApplication) -> None:
        login = current_login(self.request)
        if login is not None:
            sessions.app_signed_in(login=login, application=application)


class TokenView(dot.TokenView):
    """The toolkit's token endpoint in one transaction. A code exchange or refresh with ``openid``
    otherwise commits twice (the ID token, then the access and refresh tokens): one commit, one
    WAL flush, is enough. Refused requests (reuse detection revoking a family included) are
    answers, not exceptions, so what they write is committed too."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with transaction.atomic():
            return super().post(request, *args, **kwargs)


class IntrospectView(dot.IntrospectTokenView):
    """RFC 7662 for the application a token was issued to, authenticated with its client
    credentials: any other caller learns nothing about the token."""

    http_method_names = ["post", "options"]  # a token in a query string ends up in access logs

    def authenticate_client(self, request: HttpRequest) -> bool:
        valid = super().authenticate_client(request)
        self.caller_id = _client_id_of(request) if valid else None
        return valid

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        value = request.POST.get("token")
        if not value:
            return JsonResponse({"error": "invalid_request", "error_description": "Token parameter is missing."}, status=400)
        token = (
            get_access_token_model()
            .objects.select_related("user", "application")
            .filter(token_checksum=hashlib.sha256(value.encode()).hexdigest())
            .first()
        )
        caller = getattr(self, "caller_id", None)
        if (
            token is None
            or caller is None  # a bearer token with the "introspection" scope: no such tokens are issued
            or token.application is None
            or token.application.client_id != caller
            or not token.is_valid()
            or sessions.token_mandate_revoked(value)
        ):
            return JsonResponse({"active": False})
        data: dict[str, Any] = {
            "active": True,
            "scope": token.scope,
            "client_id": token.application.client_id,
            "token_type": "Bearer",
            "exp": int(calendar.timegm(token.expires.timetuple())),
            "iss": oauth2_settings.oidc_issuer(request),
        }
        if token.user is not None:
            data["sub"] = str(token.user.public_id)
        if token.resource:
            data["aud"] = token.resource
        return JsonResponse(data)


def _client_id_of(request: HttpRequest) -> str | None:
    """The client id a request authenticated with (HTTP Basic, else the form body), as the
    toolkit's validator reads it."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header.split(" ", 1)[1]).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, _, _secret = decoded.partition(":")
        return unquote_plus(client_id)
    return request.POST.get("client_id") or None


class DiscoveryView(dot.ConnectDiscoveryInfoView):
    """The toolkit's discovery document, plus what the platform adds: back-channel logout with
    the session id (OpenID Connect Back-Channel Logout 1.0, section 2.1)."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        data["backchannel_logout_supported"] = True
        data["backchannel_logout_session_supported"] = True
        out = JsonResponse(data)
        out["Access-Control-Allow-Origin"] = "*"
        return out


class LogoutView(dot.RPInitiatedLogoutView):
    template_name = "portal/logout_confirm.html"

    def do_logout(self, application: Any = None, post_logout_redirect_uri: Any = None, state: Any = None, token_user: Any = None) -> Any:
        sign_out(self.request, reason="应用发起的单点退出" if application else "单点退出")
        return super().do_logout(application, post_logout_redirect_uri, state, token_user)


# Only the endpoints the platform offers: no self-service application registration, no device
# flow (operators register applications in the console or with `tongban oidc-client create`).
def _urls() -> list[Any]:
    from django.urls import path, re_path

    return [
        path("authorize/", AuthorizeView.as_view(), name="authorize"),
        path("token/", TokenView.as_view(), name="token"),
        path("revoke_token/", dot.RevokeTokenView.as_view(), name="revoke-token"),
        path("introspect/", IntrospectView.as_view(), name="introspect"),
        re_path(r"^\.well-known/openid-configuration/?$", DiscoveryView.as_view(), name="oidc-connect-discovery-info"),
        path(".well-known/jwks.json", dot.JwksInfoView.as_view(), name="jwks-info"),
        path("userinfo/", dot.UserInfoView.as_view(), name="user-info"),
        path("logout/", LogoutView.as_view(), name="rp-initiated-logout"),
    ]


urlpatterns = _urls()
