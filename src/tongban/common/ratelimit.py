"""Fixed-window rate limits per client address in the shared cache (Redis when configured)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address. Behind our own reverse proxy (BEHIND_PROXY=1) every request comes
    from the proxy, which puts the real address in X-Real-IP (and overwrites any the client sent);
    otherwise only the socket's address counts. X-Forwarded-For is never trusted: clients forge it."""
    if settings.BEHIND_PROXY:
        real = request.META.get("HTTP_X_REAL_IP", "").strip()
        if real:
            return real[:64]
    return str(request.META.get("REMOTE_ADDR", "unknown"))


def axes_client_ip(request: HttpRequest) -> str | None:
    """The address django-axes locks on together with the username; None when the request has no
    real address (an internal sign-in such as a test client's force_login)."""
    import ipaddress

    address = client_ip(request)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return None
    return address


def rate_limited(request: HttpRequest, scope: str, per_minute: int) -> bool:
    """Whether this client address went over ``per_minute`` requests of ``scope`` this minute."""
    return over_limit(f"{scope}:{client_ip(request)}", per_minute)


def over_limit(subject: str, per_minute: int, cost: int = 1) -> bool:
    """Count ``cost`` hits for ``subject`` (an address, an API client) in this minute's window."""
    if per_minute <= 0:
        return False
    window = int(time.time() // 60)
    key = f"rl:{subject}:{window}"
    try:
        count = cache.incr(key, cost)
    except ValueError:
        cache.add(key, 0, timeout=70)
        count = cache.incr(key, cost)
    return count > per_minute
