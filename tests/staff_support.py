"""Signing staff in to the console the way a person does: password, then a TOTP code computed
from the secret the test personas are enrolled with (tests/conftest.py ``staff_ready``)."""

from __future__ import annotations

import time
from typing import Any

import pyotp

from tongban.identity import staff


def fresh_code(account: Any) -> str:
    """A code the platform accepts now: of the current step, or of the next one when the current
    step was used already (both lie in the accepted window; never the previous step, which a
    step boundary during the request could push out of it)."""
    account.refresh_from_db()
    secret = staff.totp_unseal(account.totp_secret_sealed)
    current = int(time.time() // staff.TOTP_STEP_SECONDS)
    for step in (current, current + 1):
        if step > account.totp_last_step:
            return pyotp.TOTP(secret).generate_otp(step)
    raise AssertionError("both codes of the window were used: reset totp_last_step in the test")


def console_sign_in(client: Any, account: Any, password: str, *, next_url: str = "") -> Any:
    """Password, then the code. Returns the response of the code step (a redirect on success)."""
    data = {"username": account.username, "password": password}
    if next_url:
        data["next"] = next_url
    response = client.post("/console/login", data)
    assert response.status_code == 302 and response.url == "/console/login/code", (response.status_code, response.get("Location"))
    return client.post("/console/login/code", {"code": fresh_code(account)})
