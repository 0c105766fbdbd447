"""The two outside systems an enterprise sign-in leans on, as small interfaces with sandboxes that
behave like the real ones, so the platform runs end to end without them.

- The legal-person base (法人库, the market regulator's register behind the national data-sharing
  exchange): ``check(credit_code)`` answers the enterprise's name and its legal representative,
  or ``None`` when no such enterprise is registered.
- The e-business-licence app (国家市场监管总局 电子营业执照 App): only the legal representative
  holds the licence. The platform asks the app to confirm a sign-in (``start``); the holder opens
  the app and confirms with the licence PIN (``confirm``); the app answers a signed assertion that
  the legal representative of that enterprise confirmed, which the platform verifies (``verify``)
  once.

Both sandboxes are slow (``*_SANDBOX_LATENCY_MS``) and can be switched off (``*_SANDBOX_OUTAGE``)
to see how the pages say so. The sandbox app accepts one PIN for every licence
(``ELICENCE_SANDBOX_PIN``, shown on the sign-in page in the sandbox), refuses a wrong one, gives up
after a few wrong ones, and lets a confirmation and an assertion expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.core.cache import cache

from tongban.common.codes import is_valid_uscc
from tongban.common.errors import DomainError


class ProviderUnavailable(DomainError):
    """The outside system did not answer; nothing was decided."""

    code = "provider_unavailable"
    status = 503


class ElicenceRefused(DomainError):
    """The e-licence app refused: wrong PIN, expired, used, or not signed by it."""

    code = "elicence_refused"
    status = 403


@dataclass(frozen=True)
class LegalPerson:
    credit_code: str
    name: str
    legal_rep_name: str
    legal_rep_id_number: str


@dataclass(frozen=True)
class Challenge:
    """A confirmation the app is waiting for: the opaque token and when it runs out."""

    token: str
    credit_code: str
    expires_at: float


@dataclass(frozen=True)
class Confirmation:
    """What a verified assertion says: the legal representative of this enterprise confirmed."""

    credit_code: str
    nonce: str
    confirmed_at: float


class LegalPersonBase(Protocol):
    def check(self, credit_code: str) -> LegalPerson | None: ...


class ElicenceApp(Protocol):
    def start(self, credit_code: str) -> Challenge: ...

    def confirm(self, challenge: str, pin: str) -> str: ...

    def verify(self, assertion: str, *, credit_code: str) -> Confirmation: ...


# The sandbox register. The first is the demo citizen 张晓明's company, the second 李红's; nobody on
# the platform is the legal representative of the third (for "you are not the legal representative").
SANDBOX_ENTERPRISES = (
    LegalPerson("91360102MA35GT0A1A", "江西赣通科技有限公司", "张晓明", "11010519491231002X"),
    LegalPerson("91360103MA38HC2B5U", "南昌洪城餐饮管理有限公司", "李红", "360102198803150026"),
    LegalPerson("91361130MA39WY7C8U", "婺源徽韵茶业有限公司", "王建国", "360102198503011016"),
)
MAX_PIN_ATTEMPTS = 5


def _sandbox_call(latency_ms: int, outage: bool, message: str) -> None:
    if latency_ms:
        time.sleep(latency_ms / 1000)
    if outage:
        raise ProviderUnavailable(message)


class SandboxLegalPersonBase:
    name = "sandbox-legal-person-base"

    def __init__(self, register: tuple[LegalPerson, ...] = SANDBOX_ENTERPRISES) -> None:
        self._register = {person.credit_code: person for person in register}

    def check(self, credit_code: str) -> LegalPerson | None:
        _sandbox_call(
            settings.LEGAL_PERSON_SANDBOX_LATENCY_MS,
            settings.LEGAL_PERSON_SANDBOX_OUTAGE,
            "法人库暂时无法查询，您的信息没有丢失。请过几分钟再试，或拨打 12345 热线。",
        )
        return self._register.get(credit_code.strip().upper())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SandboxElicenceApp:
    """Challenges and assertions are HMAC-signed (``ELICENCE_SANDBOX_SECRET``); the app's memory of
    wrong PINs and used tokens is the shared cache."""

    name = "sandbox-elicence"

    def __init__(self, base: LegalPersonBase | None = None) -> None:
        self._base = base or SandboxLegalPersonBase()

    # --- signing -----------------------------------------------------------------------------
    def _seal(self, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        mac = hmac.new(settings.ELICENCE_SANDBOX_SECRET.encode(), body.encode(), hashlib.sha256).digest()
        return f"{body}.{_b64(mac)}"

    def _open(self, token: str, kind: str) -> dict[str, Any]:
        body, _, mac = (token or "").partition(".")
        expected = hmac.new(settings.ELICENCE_SANDBOX_SECRET.encode(), body.encode(), hashlib.sha256).digest()
        try:
            given = _unb64(mac)
            payload = json.loads(_unb64(body))
        except (ValueError, TypeError):
            raise ElicenceRefused("电子营业执照的确认信息无效，请重新发起确认。", code="elicence_invalid") from None
        if not hmac.compare_digest(given, expected) or not isinstance(payload, dict) or payload.get("typ") != kind:
            raise ElicenceRefused("电子营业执照的确认信息无效，请重新发起确认。", code="elicence_invalid")
        if time.time() >= float(payload.get("exp", 0)):
            raise ElicenceRefused("电子营业执照确认已超时，请重新发起确认。", code="elicence_expired")
        return payload

    def _reachable(self) -> None:
        _sandbox_call(
            settings.ELICENCE_SANDBOX_LATENCY_MS,
            settings.ELICENCE_SANDBOX_OUTAGE,
            "电子营业执照系统暂时无法连接，请过几分钟再试。您也可以先以个人身份办理其他事项。",
        )

    # --- the interface ---------------------------------------------------------------------------
    def start(self, credit_code: str) -> Challenge:
        code = credit_code.strip().upper()
        if not is_valid_uscc(code):
            raise ElicenceRefused("统一社会信用代码校验未通过，请核对后重新输入。", code="invalid_credit_code")
        self._reachable()
        if self._base.check(code) is None:
            raise ElicenceRefused("该企业尚未领取电子营业执照，或统一社会信用代码有误。", code="elicence_not_issued")
        expires = time.time() + settings.ELICENCE_CHALLENGE_SECONDS
        token = self._seal({"typ": "challenge", "cc": code, "n": secrets.token_urlsafe(12), "exp": expires})
        return Challenge(token=token, credit_code=code, expires_at=expires)

    def confirm(self, challenge: str, pin: str) -> str:
        self._reachable()
        payload = self._open(challenge, "challenge")
        attempts_key = f"elicence:pin:{payload['n']}"
        if cache.get(attempts_key, 0) >= MAX_PIN_ATTEMPTS:
            raise ElicenceRefused("PIN 码错误次数过多，本次确认已作废。请重新发起确认。", code="elicence_locked")
        if not hmac.compare_digest((pin or "").strip().encode(), settings.ELICENCE_SANDBOX_PIN.encode()):
            cache.add(attempts_key, 0, timeout=settings.ELICENCE_CHALLENGE_SECONDS)
            used = cache.incr(attempts_key)
            left = MAX_PIN_ATTEMPTS - used
            if left <= 0:
                raise ElicenceRefused("PIN 码错误次数过多，本次确认已作废。请重新发起确认。", code="elicence_locked")
            raise ElicenceRefused(f"PIN 码不正确，还可以再试 {left} 次。", code="elicence_wrong_pin", details={"left": left})
        if not cache.add(f"elicence:confirmed:{payload['n']}", 1, timeout=settings.ELICENCE_CHALLENGE_SECONDS):
            raise ElicenceRefused("这次确认已经完成过，请重新发起确认。", code="elicence_used")
        now = time.time()
        return self._seal(
            {
                "typ": "assertion",
                "cc": payload["cc"],
                "n": secrets.token_urlsafe(12),
                "iat": now,
                "exp": now + settings.ELICENCE_ASSERTION_SECONDS,
            }
        )

    def verify(self, assertion: str, *, credit_code: str) -> Confirmation:
        """Check an assertion for this enterprise and use it up: each is accepted once."""
        payload = self._open(assertion, "assertion")
        if payload.get("cc") != credit_code.strip().upper():
            raise ElicenceRefused("电子营业执照的确认信息与所填企业不一致，请重新发起确认。", code="elicence_mismatch")
        if not cache.add(f"elicence:assertion:{payload['n']}", 1, timeout=settings.ELICENCE_ASSERTION_SECONDS + 60):
            raise ElicenceRefused("这次确认已经用过，请重新发起确认。", code="elicence_used")
        return Confirmation(credit_code=payload["cc"], nonce=payload["n"], confirmed_at=float(payload["iat"]))


def legal_person_base() -> LegalPersonBase:
    """The configured legal-person base (``LEGAL_PERSON_PROVIDER``)."""
    return SandboxLegalPersonBase()


def elicence_app() -> ElicenceApp:
    """The configured e-business-licence app (``ELICENCE_PROVIDER``)."""
    return SandboxElicenceApp(legal_person_base())


def sandbox_pin() -> str:
    """The PIN the sandbox app accepts, for the page to show; empty with a real app."""
    return settings.ELICENCE_SANDBOX_PIN if settings.ELICENCE_PROVIDER == "sandbox" else ""
