"""Validators for national codes (STANDARDS.md), built on python-stdnum: no hand-written checksums."""

from __future__ import annotations

import re

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError as StdnumError

ITEM_BASE_CODE = re.compile(r"^[0-9A-Z]{12}$")
DIVISION_CODE = re.compile(r"^(\d{6}|\d{9}|\d{12})$")


def is_valid_uscc(value: str) -> bool:
    try:
        uscc.validate(value)
    except StdnumError:
        return False
    return True


def is_valid_ric(value: str) -> bool:
    try:
        ric.validate(value)
    except StdnumError:
        return False
    return True


def uscc_with_check(first17: str) -> str:
    """Complete a 17-character body with its GB 32100 check character."""
    return first17 + uscc.calc_check_digit(first17)


def is_valid_item_base_code(value: str) -> bool:
    return bool(ITEM_BASE_CODE.match(value))


def implementation_code(*, department_uscc: str, level: int, base_code: str) -> str:
    """事项实施编码: implementing body's 18-char credit code + 1 char (exercise level) + 12-char base code."""
    if not is_valid_uscc(department_uscc):
        raise ValueError(f"invalid credit code {department_uscc!r}")
    if not is_valid_item_base_code(base_code):
        raise ValueError(f"invalid item base code {base_code!r}")
    if level not in range(1, 7):
        raise ValueError(f"invalid exercise level {level!r}")
    return f"{department_uscc}{level}{base_code}"
