"""What every portal page knows: the chosen hall, care mode and kiosk mode (cookies, per device),
and who is signed in with their unread-message count and acting identity (worked out only when a
page shows them)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.conf import settings
from django.contrib.messages import get_messages
from django.http import HttpRequest

from tongban.common.masking import mask_name
from tongban.identity import sessions
from tongban.identity.models import Account, LoginSession, Mandate
from tongban.messaging import selectors as inbox
from tongban.org import selectors as org
from tongban.org.models import Hall
from tongban.web.signin import current_login

HALL_COOKIE = "tb_hall"
CARE_COOKIE = "tb_care"
KIOSK_COOKIE = "tb_kiosk"
COOKIE_AGE = 365 * 24 * 3600


def current_hall(request: HttpRequest) -> Hall | None:
    cached = getattr(request, "_tb_hall", None)
    if cached is not None:
        return cached
    code = request.COOKIES.get(HALL_COOKIE, "")
    hall = org.hall_get(code) if code.isdigit() and len(code) == 6 else None
    if hall is None:
        hall = org.main_hall()
    request._tb_hall = hall  # type: ignore[attr-defined]
    return hall


class Visitor:
    """The person on this page. Nothing is read until a template or view asks: an anonymous visitor
    without a session costs no query, a signed-in citizen one query for the unread badge."""

    def __init__(self, request: HttpRequest) -> None:
        self._request = request

    @cached_property
    def citizen(self) -> Account | None:
        """The signed-in citizen; staff signed in to the console are not citizens here."""
        user = getattr(self._request, "user", None)
        if user is not None and user.is_authenticated and getattr(user, "kind", None) == Account.Kind.CITIZEN:
            return user  # type: ignore[return-value]
        return None

    @cached_property
    def masked_name(self) -> str:
        if self.citizen is None:
            return ""
        return mask_name(self.citizen.display_name or self.citizen.username)[:4]  # fits the header

    @cached_property
    def login(self) -> LoginSession | None:
        """This browser's sign-in with its acting mandate and enterprise: one query, only for a
        signed-in citizen."""
        return current_login(self._request) if self.citizen is not None else None

    @cached_property
    def acting(self) -> Mandate | None:
        """The enterprise mandate this person acts under now, or None when acting as themself."""
        return sessions.acting_mandate(self.login)

    @cached_property
    def unread(self) -> int:
        """Unread messages, counted up to the cap plus one (see inbox_unread_count)."""
        return inbox.inbox_unread_count(self.citizen) if self.citizen is not None else 0

    @property
    def badge(self) -> str:
        count = self.unread
        if count <= 0:
            return ""
        return f"{inbox.UNREAD_CAP}+" if count > inbox.UNREAD_CAP else str(count)

    def forget_unread(self) -> None:
        """After a view changed what is read, the badge counts again when next shown."""
        self.__dict__.pop("unread", None)


def visitor(request: HttpRequest) -> Visitor:
    found = getattr(request, "_tb_visitor", None)
    if found is None:
        found = Visitor(request)
        request._tb_visitor = found  # type: ignore[attr-defined]
    return found


def portal(request: HttpRequest) -> dict[str, Any]:
    if not request.path.startswith(("/console", "/api")):
        hall = current_hall(request)
    else:
        hall = None
    return {
        "hall": hall,
        "care_mode": request.COOKIES.get(CARE_COOKIE) == "1",
        "kiosk_mode": request.COOKIES.get(KIOSK_COOKIE) == "1",
        "kiosk_idle_seconds": settings.KIOSK_IDLE_SECONDS,
        "visitor": visitor(request),
        # One-time notices ("已保存") left by the previous request; read only when a page shows them.
        "flashes": lambda: get_messages(request),
    }
