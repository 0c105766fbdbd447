"""What identity needs from domains above it, as ports those domains plug into when the app
registry is ready (dependency inversion: identity never imports them).

- ``account_notice``: tell a person about a change to their account (the message centre sends it,
  as an account-security message, in the caller's transaction).
- ``unknown_item_codes``: which of these base item codes the catalogue does not know (mandates
  with precise authorisation name items).
- ``otp_check``: check a one-time code sent to a mobile number (the message centre's codes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

AccountNotice = Callable[..., None]
_notice: AccountNotice | None = None
_unknown_items: Callable[[list[str]], list[str]] | None = None
_otp_check: Callable[..., None] | None = None


def connect_account_notice(sender: AccountNotice) -> None:
    global _notice
    _notice = sender


def connect_item_codes(check: Callable[[list[str]], list[str]]) -> None:
    global _unknown_items
    _unknown_items = check


def account_notice(*, account: Any, change: str, reason: str) -> None:
    if _notice is None:
        raise RuntimeError("no account-notice sender is connected (tongban.messaging not installed?)")
    _notice(account=account, change=change, reason=reason)


def unknown_item_codes(codes: list[str]) -> list[str]:
    if _unknown_items is None:
        raise RuntimeError("no item-code check is connected (tongban.catalog not installed?)")
    return _unknown_items(codes)


def connect_otp_check(check: Callable[..., None]) -> None:
    global _otp_check
    _otp_check = check


def otp_check(*, mobile: str, purpose: str, code: str) -> None:
    if _otp_check is None:
        raise RuntimeError("no one-time code check is connected (tongban.messaging not installed?)")
    _otp_check(mobile=mobile, purpose=purpose, code=code)
