"""Typed placeholders and rendering. Texts use ``${name}`` placeholders (the style Chinese SMS
vendors use); a send must supply exactly the template's placeholders, each of its declared type."""

from __future__ import annotations

import datetime as dt
import math
import re
import string
from typing import Any

from django.conf import settings

from tongban.common.errors import ValidationFailed

PLACEHOLDER_TYPES = {
    "text": "文字",
    "number": "数字",
    "date": "日期（YYYY-MM-DD）",
    "code": "编号（字母、数字、短横线）",
    "url": "链接（以 / 开头的站内路径或 https 地址）",
}
DEFAULT_MAX_LENGTH = {"text": 50, "number": 12, "date": 11, "code": 43, "url": 200}
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def identifiers(text: str) -> set[str]:
    template = string.Template(text)
    if not template.is_valid():
        raise ValidationFailed("模板正文中的占位符写法有误，请使用 ${名称} 的形式。", code="template_syntax")
    return set(template.get_identifiers())


def check_placeholders(placeholders: list[dict[str, Any]], texts: dict[str, str]) -> list[dict[str, Any]]:
    """Normalise a template's placeholder list and check that the texts use exactly those names."""
    clean: list[dict[str, Any]] = []
    seen: set[str] = set()
    for spec in placeholders:
        name = str(spec.get("name", ""))
        kind = str(spec.get("type", "text"))
        if not NAME_PATTERN.match(name):
            raise ValidationFailed(f"占位符名称“{name}”无效：用小写字母开头，只含小写字母、数字和下划线。", code="placeholder_name")
        if kind not in PLACEHOLDER_TYPES:
            raise ValidationFailed(f"占位符“{name}”的类型“{kind}”无效。", code="placeholder_type")
        if name in seen:
            raise ValidationFailed(f"占位符“{name}”重复。", code="placeholder_duplicate")
        seen.add(name)
        max_length = int(spec.get("max_length") or DEFAULT_MAX_LENGTH[kind])
        clean.append({"name": name, "type": kind, "label": str(spec.get("label", name))[:40], "max_length": max_length})
    used: set[str] = set()
    for field, text in texts.items():
        names = identifiers(text)
        unknown = names - seen
        if unknown:
            raise ValidationFailed(
                f"“{field}”用到了未声明的占位符：{'、'.join(sorted(unknown))}。", code="placeholder_undeclared", details={"field": field}
            )
        used |= names
    unused = seen - used
    if unused:
        raise ValidationFailed(f"声明了但没有用到的占位符：{'、'.join(sorted(unused))}。", code="placeholder_unused")
    return clean


def validate_data(placeholders: list[dict[str, Any]], data: dict[str, Any]) -> dict[str, str]:
    """The data of a send, checked against the placeholders and formatted for display. A missing or
    an extra name is refused: a message with a hole in it is worse than no message."""
    names = {p["name"] for p in placeholders}
    missing = sorted(names - set(data))
    extra = sorted(set(data) - names)
    if missing:
        raise ValidationFailed(f"缺少模板参数：{'、'.join(missing)}。", code="template_data_missing", details={"missing": missing})
    if extra:
        raise ValidationFailed(f"模板不需要这些参数：{'、'.join(extra)}。", code="template_data_unexpected", details={"unexpected": extra})
    values: dict[str, str] = {}
    for spec in placeholders:
        name, kind = spec["name"], spec["type"]
        values[name] = _format(name, kind, data[name], spec.get("max_length") or DEFAULT_MAX_LENGTH[kind])
    return values


def _invalid(name: str, kind: str) -> ValidationFailed:
    return ValidationFailed(
        f"模板参数“{name}”应为{PLACEHOLDER_TYPES[kind]}。", code="template_data_invalid", details={"field": name, "type": kind}
    )


def _format(name: str, kind: str, value: Any, max_length: int) -> str:
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _invalid(name, kind)
        try:
            number = float(value)
        except ValueError as exc:
            raise _invalid(name, kind) from exc
        if not math.isfinite(number):
            raise _invalid(name, kind)
        text = str(int(number)) if number == int(number) else str(value)
    elif kind == "date":
        try:
            day = dt.date.fromisoformat(str(value))
        except ValueError as exc:
            raise _invalid(name, kind) from exc
        text = f"{day.year}年{day.month}月{day.day}日"
    elif kind == "code":
        if not isinstance(value, (str, int)) or not CODE_PATTERN.match(str(value)):
            raise _invalid(name, kind)
        text = str(value)
    elif kind == "url":
        if not isinstance(value, str) or not ((value.startswith("/") and not value.startswith("//")) or value.startswith("https://")):
            raise _invalid(name, kind)
        text = value
    else:
        if not isinstance(value, (str, int)) or not str(value).strip():
            raise _invalid(name, kind)
        text = " ".join(str(value).split())
    if len(text) > max_length:
        raise ValidationFailed(
            f"模板参数“{name}”太长：最多 {max_length} 个字符。",
            code="template_data_too_long",
            details={"field": name, "max_length": max_length},
        )
    return text


def render(text: str, values: dict[str, str]) -> str:
    return string.Template(text).substitute(values)


def sms_text(body: str) -> str:
    return f"{settings.SMS_SIGNATURE}{body}"


def sms_segments(text: str) -> int:
    """Segments an SMS of this text takes. Text with any character outside GSM 7-bit (all Chinese
    text) is sent as UCS-2: 70 characters fit one message, and a long message is split into parts
    of 67 (3 characters go to the concatenation header). Plain ASCII: 160, parts of 153."""
    length = len(text)
    if length == 0:
        return 0
    single, part = (160, 153) if text.isascii() else (70, 67)
    return 1 if length <= single else math.ceil(length / part)


def sms_worst_case(body: str, placeholders: list[dict[str, Any]]) -> tuple[int, int]:
    """Longest length and segment count the SMS text can reach with every placeholder at its
    maximum length: shown to the operator and checked against SMS_MAX_SEGMENTS."""
    longest = {p["name"]: "字" * int(p.get("max_length") or DEFAULT_MAX_LENGTH[p["type"]]) for p in placeholders}
    text = sms_text(render(body, longest))
    return len(text), sms_segments(text)
