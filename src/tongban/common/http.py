"""Outgoing HTTP POSTs to systems outside the platform (callbacks, receipts, logout tokens)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable

Transport = Callable[[str, bytes, dict[str, str]], int]


def http_transport(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body`` and return the HTTP status, or 0 when the other side could not be reached."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers}, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - registered URLs only
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, TimeoutError, OSError):
        return 0
