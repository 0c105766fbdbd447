"""Fixed-window rate limits per client address in the shared cache (Redis when configured)."""

from __future__ import annotations

import time

from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    # Behind nginx the real address arrives in REMOTE_ADDR via the proxy protocol or
    # X-Real-IP set by our own proxy; a client-supplied X-Forwarded-For is never trusted here.
    return request.META.get("REMOTE_ADDR", "unknown")


def rate_limited(request: HttpRequest, scope: str, per_minute: int) -> bool:
    if per_minute <= 0:
        return False
    window = int(time.time() // 60)
    key = f"rl:{scope}:{client_ip(request)}:{window}"
    try:
        count = cache.incr(key)
    except ValueError:
        cache.add(key, 0, timeout=70)
        count = cache.incr(key)
    return count > per_minute
