"""Deterministic, valid credit codes for the demo's generated departments."""

from __future__ import annotations

from tongban.common.codes import uscc_with_check


def org_code(body8: str) -> str:
    """GB 11714 organisation code: 8 characters and a check character."""
    weights = [3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(ch, 36) * w for ch, w in zip(body8, weights, strict=True))
    check = 11 - total % 11
    return body8 + ("X" if check == 10 else "0" if check == 11 else str(check))


def credit_code(kind_code: str, division_code: str, class_prefix: str) -> str:
    """Registration authority + class (2), division (6), organisation code (9), check (1)."""
    return uscc_with_check(class_prefix + division_code + org_code("1" + kind_code + division_code[1:6]))
