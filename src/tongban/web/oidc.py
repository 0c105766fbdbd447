"""The OpenID Connect provider's pages: django-oauth-toolkit's views with the platform's rules.

- Authorisation asks for consent once per application and set of scopes (remembered until the
  person revokes it in their account space) and records that this sign-in session signed into
  the application, for single logout.
- RP-initiated logout ends the platform sign-in everywhere (identity.sessions.session_end), which
  sends back-channel logout tokens to every other application of the session.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from oauth2_provider import views as dot
from oauth2_provider.exceptions import OAuthToolkitError

from tongban.identity import consents
from tongban.identity.models import OidcApplication
from tongban.identity.sessions import app_signed_in
from tongban.web.signin import current_login, sign_out


class AuthorizeView(dot.AuthorizationView):
    template_name = "portal/consent.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and "consent" not in request.GET.get("prompt", "").split():
            try:
                scopes, credentials = self.validate_authorization_request(request)
            except OAuthToolkitError:
                return super().get(request, *args, **kwargs)
            application = OidcApplication.objects.filter(client_id=credentials["client_id"]).first()
            if application is not None and consents.covers(account=request.user, application=application, scopes=scopes):
                uri, _headers, _body, _status = self.create_authorization_response(
                    request=request, scopes=" ".join(scopes), credentials=credentials, allow=True
                )
                self._signed_in(application)
                return self.redirect(uri, application)
        return super().get(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        if form.cleaned_data.get("allow") and 300 <= response.status_code < 400:
            application = OidcApplication.objects.get(client_id=form.cleaned_data["client_id"])
            consents.grant(account=self.request.user, application=application, scopes=form.cleaned_data["scope"].split())
            self._signed_in(application)
        return response

    def _signed_in(self, application: OidcApplication) -> None:
        login = current_login(self.request)
        if login is not None:
            app_signed_in(login=login, application=application)


class LogoutView(dot.RPInitiatedLogoutView):
    def do_logout(self, application: Any = None, post_logout_redirect_uri: Any = None, state: Any = None, token_user: Any = None) -> Any:
        sign_out(self.request, reason="应用发起的单点退出" if application else "单点退出")
        return super().do_logout(application, post_logout_redirect_uri, state, token_user)


# Only the endpoints the platform offers: no self-service application registration, no device
# flow (operators register applications in the console or with `tongban oidc-client create`).
def _urls() -> list[Any]:
    from django.urls import path, re_path

    return [
        path("authorize/", AuthorizeView.as_view(), name="authorize"),
        path("token/", dot.TokenView.as_view(), name="token"),
        path("revoke_token/", dot.RevokeTokenView.as_view(), name="revoke-token"),
        path("introspect/", dot.IntrospectTokenView.as_view(), name="introspect"),
        re_path(r"^\.well-known/openid-configuration/?$", dot.ConnectDiscoveryInfoView.as_view(), name="oidc-connect-discovery-info"),
        path(".well-known/jwks.json", dot.JwksInfoView.as_view(), name="jwks-info"),
        path("userinfo/", dot.UserInfoView.as_view(), name="user-info"),
        path("logout/", LogoutView.as_view(), name="rp-initiated-logout"),
    ]


urlpatterns = _urls()
