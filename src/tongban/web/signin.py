"""Signing people in and out of the platform, for every page that does it (portal, console,
OpenID Connect logout). A sign-in starts a ``LoginSession`` (the OIDC ``sid``) tied to the new
Django session; a sign-out ends it everywhere (identity.sessions)."""

from __future__ import annotations

from django.contrib.auth import login, logout
from django.http import HttpRequest

from tongban.common.ratelimit import client_ip
from tongban.identity import sessions
from tongban.identity.models import Account, LoginSession

SESSION_KEY = "tb_login"


def sign_in(request: HttpRequest, account: Account, *, method: str) -> LoginSession:
    login(request, account, backend="django.contrib.auth.backends.ModelBackend")  # rotates the session id
    if request.session.session_key is None:
        request.session.save()
    started = sessions.session_start(
        account=account,
        session_key=request.session.session_key or "",
        method=method,
        client_ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
    )
    request.session[SESSION_KEY] = str(started.public_id)
    return started


def current_login(request: HttpRequest) -> LoginSession | None:
    public_id = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    return sessions.session_live(public_id) if public_id else None


def sign_out(request: HttpRequest, *, reason: str) -> None:
    login_session = current_login(request)
    if login_session is not None:
        sessions.session_end(login=login_session, reason=reason)
    logout(request)
