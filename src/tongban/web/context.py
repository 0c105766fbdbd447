"""What every portal page knows: the chosen hall, care mode and kiosk mode (cookies, per device)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from tongban.org import selectors as org
from tongban.org.models import Hall

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
    }
