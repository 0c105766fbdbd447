"""One-time codes: a 6-digit code to a mobile number, for registration and login (identity uses it).

- A code lives OTP_TTL_SECONDS and allows OTP_MAX_CHECKS wrong tries; a right one is used up.
- Asking again within OTP_RESEND_SECONDS is refused with the seconds to wait.
- At most OTP_PER_MOBILE_PER_HOUR codes per number and OTP_PER_IP_PER_HOUR per client address.
  The counts come from the code table itself, so they hold across app servers without Redis.
- Only an HMAC of the code is kept, keyed by SECRET_KEY and bound to the challenge.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tongban.common.audit import audit_record
from tongban.common.crypto import blind_index
from tongban.common.errors import DomainError, ValidationFailed
from tongban.common.masking import mask_mobile
from tongban.messaging.models import OneTimeCode
from tongban.messaging.services import Address, message_send

PURPOSES = {"register": "注册账号", "login": "登录", "reset": "重置密码", "verify": "验证手机号"}
MOBILE = re.compile(r"^1[3-9][0-9]{9}$")


class TooManyRequests(DomainError):
    code = "rate_limited"
    status = 429


def _digest(challenge: OneTimeCode, code: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"{challenge.public_id}:{code}".encode(), hashlib.sha256).hexdigest()


def otp_send(*, mobile: str, purpose: str, client_ip: str) -> OneTimeCode:
    if not MOBILE.match(mobile or ""):
        raise ValidationFailed("请输入正确的 11 位手机号码。", code="invalid_mobile")
    if purpose not in PURPOSES:
        raise ValidationFailed("验证码用途无效。", code="otp_purpose")
    index = blind_index(mobile, kind="mobile")
    now = timezone.now()
    with transaction.atomic():
        recent = OneTimeCode.objects.select_for_update().filter(mobile_index=index, created_at__gte=now - timedelta(hours=1))
        last = recent.filter(purpose=purpose).order_by("-created_at").first()
        if last is not None and (now - last.created_at).total_seconds() < settings.OTP_RESEND_SECONDS:
            wait = math.ceil(settings.OTP_RESEND_SECONDS - (now - last.created_at).total_seconds())
            raise TooManyRequests(f"验证码已发送，请 {wait} 秒后再试。", code="otp_cooldown", details={"retry_after": wait})
        if recent.count() >= settings.OTP_PER_MOBILE_PER_HOUR:
            audit_record(
                actor=None, action="otp.limited", object_type="mobile", object_id=mask_mobile(mobile), reason="per-mobile hourly limit"
            )
            raise TooManyRequests("该号码获取验证码次数过多，请一小时后再试。", code="otp_mobile_limit")
        if (
            OneTimeCode.objects.filter(client_ip=client_ip, created_at__gte=now - timedelta(hours=1)).count()
            >= settings.OTP_PER_IP_PER_HOUR
        ):
            audit_record(actor=None, action="otp.limited", object_type="client_ip", object_id=client_ip, reason="per-IP hourly limit")
            raise TooManyRequests("当前网络获取验证码次数过多，请稍后再试。", code="otp_ip_limit")
        code = f"{secrets.randbelow(10**6):06d}"
        challenge = OneTimeCode(
            purpose=purpose, mobile_index=index, client_ip=client_ip[:64], expires_at=now + timedelta(seconds=settings.OTP_TTL_SECONDS)
        )
        challenge.code_digest = _digest(challenge, code)
        challenge.save()
        message_send(
            recipient=Address(mobile=mobile),
            template="account-otp",
            data={"code": code, "purpose": PURPOSES[purpose], "minutes": max(1, settings.OTP_TTL_SECONDS // 60)},
            reason=f"一次性验证码：{PURPOSES[purpose]}",
        )
    return challenge


def otp_check(*, mobile: str, purpose: str, code: str) -> None:
    """Pass silently when ``code`` is the live code for this number and purpose; raise otherwise.
    A wrong try is counted even though the error rolls nothing else back."""
    if not MOBILE.match(mobile or "") or purpose not in PURPOSES:
        raise ValidationFailed("验证码不正确或已失效，请重新获取。", code="otp_invalid")
    index = blind_index(mobile, kind="mobile")
    now = timezone.now()
    with transaction.atomic():
        challenge = (
            OneTimeCode.objects.select_for_update()
            .filter(mobile_index=index, purpose=purpose, used_at=None)
            .order_by("-created_at")
            .first()
        )
        if challenge is None or challenge.expires_at <= now:
            raise ValidationFailed("验证码已失效，请重新获取。", code="otp_expired")
        if challenge.failed_checks >= settings.OTP_MAX_CHECKS:
            raise ValidationFailed("验证码错误次数过多，请重新获取。", code="otp_locked")
        if not re.fullmatch(r"[0-9]{6}", code or "") or not hmac.compare_digest(challenge.code_digest, _digest(challenge, code)):
            challenge.failed_checks += 1
            challenge.save(update_fields=["failed_checks"])
            left = settings.OTP_MAX_CHECKS - challenge.failed_checks
            error = ValidationFailed(
                f"验证码不正确，还可以再试 {left} 次。" if left else "验证码错误次数过多，请重新获取。",
                code="otp_wrong" if left else "otp_locked",
                details={"attempts_left": left},
            )
        else:
            challenge.used_at = now
            challenge.save(update_fields=["used_at"])
            return
    raise error  # raised after the commit so the counted failure stays counted
