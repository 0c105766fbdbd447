"""Session rules on every request: staff sessions idle out after 15 minutes (citizens after 30,
the cookie age); a session whose sign-in was ended elsewhere ("log out everywhere", single logout
from an application, an administrator) is signed out here too."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from tongban.identity.models import LoginSession
from tongban.web.signin import SESSION_KEY


class SessionPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if getattr(user, "kind", "citizen") != "citizen":
                request.session.set_expiry(settings.STAFF_SESSION_IDLE_SECONDS)
            public_id = request.session.get(SESSION_KEY)
            if public_id and LoginSession.objects.filter(public_id=public_id, ended_at__isnull=False).exists():
                logout(request)
        return self.get_response(request)
