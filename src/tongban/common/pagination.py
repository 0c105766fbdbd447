"""Keyset (cursor) pagination: lists never COUNT the table and stay fast at any depth."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.models import QuerySet

from tongban.common.errors import DomainError

T = TypeVar("T")


class BadCursor(DomainError):
    code = "invalid_cursor"


def encode_cursor(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadCursor("翻页参数无效，请从第一页重新开始。") from exc


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def paginate_by_key(qs: QuerySet[Any], *, key: str, cursor: str | None, limit: int) -> Page[Any]:
    """Order by a unique key ("-id" for newest first) and continue after the last key seen; fetch
    limit+1 to know if more exist."""
    field = key.lstrip("-")
    qs = qs.order_by(key)
    if cursor:
        last = decode_cursor(cursor)
        if not isinstance(last, (str, int)):
            raise BadCursor("翻页参数无效，请从第一页重新开始。")
        qs = qs.filter(**{f"{field}__{'lt' if key.startswith('-') else 'gt'}": last})
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(getattr(rows[-1], field)) if more and rows else None
    return Page(items=rows, next_cursor=next_cursor)
