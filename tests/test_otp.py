"""One-time codes: expiry, attempts, resend cooldown, per-number and per-address limits. The code is
read where a person would read it: in the SMS the sandbox gateway "sent"."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from tests.messaging_support import drain
from tongban.common.errors import ValidationFailed
from tongban.messaging.models import OneTimeCode, SandboxSms
from tongban.messaging.otp import TooManyRequests, otp_check, otp_send

MOBILE = "13512340000"


def _code() -> str:
    drain()
    text = SandboxSms.objects.order_by("-id").first().text
    match = re.search(r"验证码(\d{6})", text)
    assert match, text
    return match.group(1)


@pytest.mark.django_db
def test_a_code_arrives_by_sms_and_works_once(templates):
    challenge = otp_send(mobile=MOBILE, purpose="login", client_ip="10.0.0.1")
    code = _code()
    assert code not in challenge.code_digest and MOBILE not in challenge.mobile_index
    assert SandboxSms.objects.get().text.startswith("【通办】您正在登录，验证码")
    otp_check(mobile=MOBILE, purpose="login", code=code)
    with pytest.raises(ValidationFailed) as caught:
        otp_check(mobile=MOBILE, purpose="login", code=code)
    assert caught.value.code == "otp_expired"


@pytest.mark.django_db
def test_a_code_is_for_one_purpose(templates):
    otp_send(mobile=MOBILE, purpose="register", client_ip="10.0.0.1")
    with pytest.raises(ValidationFailed):
        otp_check(mobile=MOBILE, purpose="login", code=_code())


@pytest.mark.django_db
def test_wrong_codes_count_down_and_then_lock(templates, settings):
    settings.OTP_MAX_CHECKS = 3
    otp_send(mobile=MOBILE, purpose="login", client_ip="10.0.0.1")
    code = _code()
    wrong = "000000" if code != "000000" else "111111"
    for left in (2, 1):
        with pytest.raises(ValidationFailed) as caught:
            otp_check(mobile=MOBILE, purpose="login", code=wrong)
        assert caught.value.code == "otp_wrong" and caught.value.details == {"attempts_left": left}
    with pytest.raises(ValidationFailed) as caught:
        otp_check(mobile=MOBILE, purpose="login", code=wrong)
    assert caught.value.code == "otp_locked"
    with pytest.raises(ValidationFailed) as caught:
        otp_check(mobile=MOBILE, purpose="login", code=code)  # even the right code: ask for a new one
    assert caught.value.code == "otp_locked"
    assert OneTimeCode.objects.get().failed_checks == 3


@pytest.mark.django_db
def test_an_expired_code_is_refused(templates):
    otp_send(mobile=MOBILE, purpose="login", client_ip="10.0.0.1")
    code = _code()
    OneTimeCode.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(ValidationFailed) as caught:
        otp_check(mobile=MOBILE, purpose="login", code=code)
    assert caught.value.code == "otp_expired"


@pytest.mark.django_db
def test_resending_waits_for_the_cooldown(templates):
    otp_send(mobile=MOBILE, purpose="login", client_ip="10.0.0.1")
    with pytest.raises(TooManyRequests) as caught:
        otp_send(mobile=MOBILE, purpose="login", client_ip="10.0.0.1")
    assert caught.value.code == "otp_cooldown" and 0 < caught.value.details["retry_after"] <= 60
    OneTimeCode.objects.update(created_at=timezone.now() - dt.timedelta(seconds=61))
    otp_send(mobile=MOBILE, purpose="login", client_ip="10.0.0.1")
    assert OneTimeCode.objects.count() == 2


@pytest.mark.django_db
def test_per_number_and_per_address_hourly_limits(templates, settings):
    settings.OTP_RESEND_SECONDS = 0
    settings.OTP_PER_MOBILE_PER_HOUR = 2
    settings.OTP_PER_IP_PER_HOUR = 3
    otp_send(mobile=MOBILE, purpose="login", client_ip="10.0.0.1")
    otp_send(mobile=MOBILE, purpose="login", client_ip="10.0.0.2")
    with pytest.raises(TooManyRequests) as caught:
        otp_send(mobile=MOBILE, purpose="login", client_ip="10.0.0.3")
    assert caught.value.code == "otp_mobile_limit"
    otp_send(mobile="13512340001", purpose="login", client_ip="10.0.0.1")
    otp_send(mobile="13512340002", purpose="login", client_ip="10.0.0.1")
    with pytest.raises(TooManyRequests) as caught:
        otp_send(mobile="13512340003", purpose="login", client_ip="10.0.0.1")
    assert caught.value.code == "otp_ip_limit"


@pytest.mark.django_db
@pytest.mark.parametrize(("mobile", "purpose"), [("1351234000", "login"), ("23512340000", "login"), (MOBILE, "nonsense")])
def test_bad_numbers_and_purposes_are_refused(templates, mobile, purpose):
    with pytest.raises(ValidationFailed):
        otp_send(mobile=mobile, purpose=purpose, client_ip="10.0.0.1")
    assert not OneTimeCode.objects.exists()
