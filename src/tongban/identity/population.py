"""The outside registries behind real-name levels: the population base (name and ID number, L2) and
face verification (a live person against the ID photo, L3).

Both are plugins chosen by ``POPULATION_PROVIDER``; only the sandbox exists so far. The sandbox
behaves like the real services: it takes time (``POPULATION_SANDBOX_LATENCY_MS``), gives up after
``POPULATION_TIMEOUT_MS`` like a real client would, can be switched off as a whole
(``POPULATION_SANDBOX_OUTAGE``) and answers deterministically from a small demo population, so a
mismatch is always the same mismatch. An outage raises ``ProviderUnavailable`` with a message a
person can act on.

The face sandbox stands in for the phone SDK too: ``liveness_token`` hands out what the SDK would
after a liveness check (no camera), signed and bound to one ID number, usable once and for a few
minutes, and saying whether the sandbox should treat the face as the same person.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import secrets
import time
from typing import Protocol

from django.conf import settings
from django.core.cache import cache

from tongban.common.crypto import blind_index
from tongban.common.errors import DomainError


class ProviderUnavailable(DomainError):
    code = "provider_unavailable"
    status = 503


@dataclasses.dataclass(frozen=True)
class Match:
    """A registry's answer. ``reason`` is empty when ``ok``; otherwise ``mismatch`` (the name or face
    does not belong to the number), ``not_found`` (no such person), ``cancelled`` (the registration
    was cancelled) or ``invalid_token`` (the liveness token is forged, used or stale)."""

    ok: bool
    reason: str = ""
    reference: str = ""  # the registry's transaction number, kept with the level change


class PopulationBase(Protocol):
    name: str

    def check(self, name: str, id_number: str) -> Match: ...


class FaceVerifier(Protocol):
    name: str

    def verify(self, id_number: str, liveness_token: str) -> Match: ...


# The sandbox's population: (name, ID number, status). Check characters computed with stdnum
# (GB 11643, valid for the division code at the birth date); odd sequence numbers are men.
# "cancelled" is a cancelled registration (户籍注销).
DEMO_POPULATION: list[tuple[str, str, str]] = [
    ("张晓明", "11010519491231002X", "normal"),
    ("李红", "360102198803150026", "normal"),
    ("王建国", "360102198503120116", "normal"),
    ("刘芳", "360103199208240220", "normal"),
    ("陈志强", "360121198011050333", "normal"),
    ("杨丽", "360104198502170448", "normal"),
    ("赵伟", "360124199006300151", "normal"),
    ("黄秀英", "362330197809090267", "normal"),
    ("周杰", "360111199512010374", "normal"),
    ("吴敏", "360203198804180480", "normal"),
    ("徐磊", "360302199307220596", "normal"),
    ("孙婷", "360502200001150624", "normal"),
    ("胡明", "362101197705030718", "normal"),
    ("郭涛", "360429198309270934", "normal"),
    ("何静", "362502199111111040", "normal"),
    ("林小红", "360102200202282066", "normal"),
    ("罗志远", "360123198810301170", "cancelled"),
]

DOWN_MESSAGE = (
    "全国人口信息核验服务暂时无法连接，这不是您的问题。您填写的信息已保留，请过几分钟再试；"
    "急需办理也可以带上居民身份证到就近的政务服务大厅。"
)
FACE_DOWN_MESSAGE = "人脸核验服务暂时无法连接，这不是您的问题。请过几分钟再试；急需办理也可以带上居民身份证到就近的政务服务大厅。"
LIVENESS_TTL_SECONDS = 300


def _reference(prefix: str) -> str:
    return f"{prefix}-{time.strftime('%Y%m%d')}-{secrets.token_hex(6)}"


def _wait_like_a_remote_call(message: str) -> None:
    """Latency, the client's timeout and the outage switch, as a real call would meet them."""
    if settings.POPULATION_SANDBOX_OUTAGE:
        raise ProviderUnavailable(message)
    latency = settings.POPULATION_SANDBOX_LATENCY_MS / 1000
    timeout = settings.POPULATION_TIMEOUT_MS / 1000
    if latency >= timeout:
        time.sleep(timeout)
        raise ProviderUnavailable(message, code="provider_timeout")
    if latency:
        time.sleep(latency)


class SandboxPopulationBase:
    name = "sandbox"

    def __init__(self, people: list[tuple[str, str, str]] | None = None) -> None:
        self._people = {number: (name, status) for name, number, status in (people or DEMO_POPULATION)}

    def check(self, name: str, id_number: str) -> Match:
        _wait_like_a_remote_call(DOWN_MESSAGE)
        found = self._people.get(id_number.upper())
        reference = _reference("SBX-RK")
        if found is None:
            return Match(ok=False, reason="not_found", reference=reference)
        if found[1] != "normal":
            return Match(ok=False, reason="cancelled", reference=reference)
        if found[0] != name.strip():
            return Match(ok=False, reason="mismatch", reference=reference)
        return Match(ok=True, reference=reference)


def _token_signature(id_number: str, body: str) -> str:
    key = f"{settings.SECRET_KEY}:face-sandbox".encode()
    mac = hmac.new(key, f"{blind_index(id_number.upper(), kind='id_number')}:{body}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


class SandboxFaceVerifier:
    name = "sandbox"

    def liveness_token(self, id_number: str, *, same_person: bool = True) -> str:
        """What the phone SDK returns after a liveness check: here without a camera."""
        body = f"sbx1.{'same' if same_person else 'other'}.{int(time.time())}.{secrets.token_hex(8)}"
        return f"{body}.{_token_signature(id_number, body)}"

    def verify(self, id_number: str, liveness_token: str) -> Match:
        _wait_like_a_remote_call(FACE_DOWN_MESSAGE)
        reference = _reference("SBX-RL")
        parts = (liveness_token or "").split(".")
        if len(parts) != 5 or parts[0] != "sbx1" or not parts[2].isdigit():
            return Match(ok=False, reason="invalid_token", reference=reference)
        body = ".".join(parts[:4])
        if not hmac.compare_digest(parts[4], _token_signature(id_number, body)):
            return Match(ok=False, reason="invalid_token", reference=reference)
        if time.time() - int(parts[2]) > LIVENESS_TTL_SECONDS:
            return Match(ok=False, reason="invalid_token", reference=reference)
        if not cache.add(f"face-token:{parts[3]}", 1, timeout=LIVENESS_TTL_SECONDS + 60):
            return Match(ok=False, reason="invalid_token", reference=reference)  # used once already
        if parts[1] != "same":
            return Match(ok=False, reason="mismatch", reference=reference)
        return Match(ok=True, reference=reference)


def population_base() -> PopulationBase:
    """The configured population base (POPULATION_PROVIDER)."""
    return SandboxPopulationBase()


def face_verifier() -> FaceVerifier:
    """The configured face verification service (POPULATION_PROVIDER)."""
    return SandboxFaceVerifier()


def is_sandbox() -> bool:
    return bool(settings.POPULATION_PROVIDER == "sandbox")
