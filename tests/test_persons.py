"""Natural persons end to end on the real database: registering with a one-time code, signing in by
password (with lockout) or by code, passwords, real-name levels L2–L4 against the sandbox
registries, the account pages, sessions on other devices, authorised applications and the
account notices each change sends. Codes are read where a person reads them: in the sandbox SMS."""

from __future__ import annotations

import re
import secrets

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from tests.conftest import CITIZEN_PASSWORD
from tests.messaging_support import drain
from tongban.common.errors import Conflict, PermissionDenied, ValidationFailed
from tongban.common.models import AuditEvent
from tongban.identity import consents, persons, population
from tongban.identity.models import Account, Consent, LoginSession, OidcApplication, RealNameEvent
from tongban.identity.population import DEMO_POPULATION, ProviderUnavailable
from tongban.messaging.models import InboxItem, OneTimeCode, SandboxSms
from tongban.messaging.otp import otp_send

NEW_MOBILE = "13600001111"
NEW_PASSWORD = "春天来了我们去看花-2026"
PHONE_UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
DESKTOP_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


@pytest.fixture(autouse=True)
def _instant_registries(settings):
    """The sandbox registries answer at once here; tests that need an outage or a timeout say so.
    Rate limits and single-use liveness tokens live in the cache: each test starts empty."""
    settings.POPULATION_SANDBOX_LATENCY_MS = 0
    settings.POPULATION_SANDBOX_OUTAGE = False
    cache.clear()
    yield
    cache.clear()


def sms_code() -> str:
    drain()
    text = SandboxSms.objects.order_by("-id").first().text
    found = re.search(r"验证码(\d{6})", text)
    assert found, text
    return found.group(1)


def code_for(mobile: str, purpose: str) -> str:
    otp_send(mobile=mobile, purpose=purpose, client_ip="10.0.0.1")
    return sms_code()


def registered(mobile: str = NEW_MOBILE, name: str = "王小二") -> Account:
    return persons.person_register(
        mobile=mobile, code=code_for(mobile, "register"), password=NEW_PASSWORD, display_name=name, client_ip="10.0.0.1"
    )


def inbox_titles(account: Account) -> list[str]:
    return list(InboxItem.objects.filter(account=account).order_by("id").values_list("title", flat=True))


def page(response) -> str:
    return response.content.decode()


def signed_in_client(username: str, password: str = CITIZEN_PASSWORD, **client_options) -> Client:
    client = Client(**client_options)
    response = client.post("/login/", {"username": username, "password": password})
    assert response.status_code == 302, page(response)
    return client


def is_signed_in(client: Client) -> bool:
    response = client.get("/my/")
    return response.status_code == 200


# --- registration ----------------------------------------------------------------------------------


def test_registering_makes_an_l1_citizen_with_a_verified_sealed_mobile(templates):
    account = registered()
    account.refresh_from_db()
    assert account.kind == Account.Kind.CITIZEN and account.real_name_level == 1
    assert account.mobile == NEW_MOBILE and account.mobile_verified_at is not None and account.password_changed_at is not None
    assert NEW_MOBILE not in account.mobile_sealed and NEW_MOBILE not in account.username
    assert account.check_password(NEW_PASSWORD) and account.password.startswith("argon2$argon2id$")
    event = RealNameEvent.objects.get(account=account)
    assert (event.level_from, event.level_to, event.method) == (0, 1, "mobile")
    audit = AuditEvent.objects.get(action="identity.register")
    assert audit.object_id == str(account.public_id)
    assert audit.after["mobile"] == "136****1111" and NEW_MOBILE not in str(audit.after)


def test_a_wrong_or_expired_code_registers_nobody_and_counts_the_try(templates):
    otp_send(mobile=NEW_MOBILE, purpose="register", client_ip="10.0.0.1")
    code = sms_code()
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(ValidationFailed) as caught:
        persons.person_register(mobile=NEW_MOBILE, code=wrong, password=NEW_PASSWORD, display_name="王小二", client_ip="10.0.0.1")
    assert caught.value.code == "otp_wrong"
    assert OneTimeCode.objects.get().failed_checks == 1  # the wrong try stays counted
    OneTimeCode.objects.update(expires_at="2000-01-01T00:00:00Z")
    with pytest.raises(ValidationFailed) as caught:
        persons.person_register(mobile=NEW_MOBILE, code=code, password=NEW_PASSWORD, display_name="王小二", client_ip="10.0.0.1")
    assert caught.value.code == "otp_expired"
    assert not Account.objects.exists()


def test_a_code_for_another_purpose_does_not_register(templates):
    code = code_for(NEW_MOBILE, "login")
    with pytest.raises(ValidationFailed):
        persons.person_register(mobile=NEW_MOBILE, code=code, password=NEW_PASSWORD, display_name="王小二", client_ip="10.0.0.1")
    assert not Account.objects.exists()


def test_a_registered_mobile_is_refused_and_the_code_stays_usable(citizen, templates):
    code = code_for("13812345678", "register")
    with pytest.raises(Conflict) as caught:
        persons.person_register(mobile="138 1234 5678", code=code, password=NEW_PASSWORD, display_name="冒名者", client_ip="10.0.0.1")
    assert caught.value.code == "mobile_registered"
    assert Account.objects.count() == 1
    assert OneTimeCode.objects.get().used_at is None


@pytest.mark.parametrize(
    ("password", "problem"),
    [("short-1", "至少要 12 个字符"), ("123456789012345", "不能全是数字"), ("password1234", "太常见")],
)
def test_weak_passwords_are_refused_before_the_code_is_used(templates, password, problem):
    code = code_for(NEW_MOBILE, "register")
    with pytest.raises(ValidationFailed) as caught:
        persons.person_register(mobile=NEW_MOBILE, code=code, password=password, display_name="王小二", client_ip="10.0.0.1")
    assert caught.value.code == "weak_password"
    assert any(problem in p for p in caught.value.details["problems"]), caught.value.details
    # The code was not spent on a refused password: the person fixes it and goes on.
    account = persons.person_register(mobile=NEW_MOBILE, code=code, password=NEW_PASSWORD, display_name="王小二", client_ip="10.0.0.1")
    assert account.real_name_level == 1


def test_registration_pages_from_number_to_signed_in(mini, templates):
    client = Client(HTTP_USER_AGENT=PHONE_UA)
    assert client.get("/register/").status_code == 200
    response = client.post("/register/", {"action": "send", "mobile": "136-0000-1111"})
    assert response.status_code == 200
    text = page(response)
    assert "第 2 步，共 2 步" in text and "136****1111" in text and NEW_MOBILE in text  # the number travels in the form
    # Asking again at once is refused kindly, and the code step stays.
    again = client.post("/register/", {"action": "send", "mobile": NEW_MOBILE})
    assert again.status_code == 429 and "秒后再试" in page(again) and 'name="code"' in page(again)
    code = sms_code()
    response = client.post(
        "/register/", {"action": "register", "mobile": NEW_MOBILE, "code": code, "display_name": "王小二", "password": "short"}
    )
    assert response.status_code == 400 and "至少要 12 个字符" in page(response) and 'value="王小二"' in page(response)
    assert "short" not in page(response).replace("short-", "")
    before = client.cookies["sessionid"].value if "sessionid" in client.cookies else ""
    response = client.post(
        "/register/", {"action": "register", "mobile": NEW_MOBILE, "code": code, "display_name": "王小二", "password": NEW_PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == "/my/"
    assert client.cookies["sessionid"].value != before
    home = page(client.get("/my/"))
    assert "王**" in home and "136****1111" in home and "L1 注册用户" in home and "王小二" not in home
    assert LoginSession.objects.get(account__mobile_index=Account.objects.get().mobile_index).user_agent == PHONE_UA


def test_registration_page_shows_a_duplicate_number_with_the_way_out(citizen, templates):
    client = Client()
    client.post("/register/", {"action": "send", "mobile": "13812345678"})
    response = client.post(
        "/register/", {"action": "register", "mobile": "13812345678", "code": sms_code(), "display_name": "某人", "password": NEW_PASSWORD}
    )
    assert response.status_code == 409
    assert "已经注册过" in page(response) and "/password-reset/" in page(response)


def test_registration_page_refuses_a_bad_number_beside_the_field(mini):
    response = Client().post("/register/", {"action": "send", "mobile": "1234"})
    assert response.status_code == 400
    assert 'aria-invalid="true"' in page(response) and "11 位" in page(response)
    assert not OneTimeCode.objects.exists()


# --- signing in --------------------------------------------------------------------------------------


def test_otp_login_service_returns_the_person_and_tells_only_code_holders_about_strangers(citizen, templates):
    account = persons.person_login_otp(mobile="13812345678", code=code_for("13812345678", "login"))
    assert account.pk == citizen.pk
    assert account.real_name_level == 1 and account.mobile_verified_at is not None  # the code verified the number
    with pytest.raises(ValidationFailed) as caught:
        persons.person_login_otp(mobile="13912340000", code="123456")
    assert caught.value.code == "otp_expired"  # no code asked for: nothing about the number
    with pytest.raises(ValidationFailed) as caught:
        persons.person_login_otp(mobile="13912340000", code=code_for("13912340000", "login"))
    assert caught.value.code == "not_registered"


def test_otp_login_page_rotates_the_session(citizen, templates):
    client = Client()
    planted = client.session
    planted["seen"] = True
    planted.save()
    before = client.cookies["sessionid"].value
    response = client.post("/login/", {"way": "code", "action": "send", "mobile": "13812345678"})
    assert response.status_code == 200 and "138****5678" in page(response) and 'autocomplete="one-time-code"' in page(response)
    response = client.post(
        "/login/", {"way": "code", "action": "login", "mobile": "13812345678", "code": sms_code(), "next": "/my/messages/"}
    )
    assert response.status_code == 302 and response["Location"] == "/my/messages/"
    assert client.cookies["sessionid"].value != before
    assert LoginSession.objects.get(account=citizen).method == "otp"


def test_otp_login_page_wrong_code_says_how_many_tries_are_left(citizen, templates):
    client = Client()
    client.post("/login/", {"way": "code", "action": "send", "mobile": "13812345678"})
    code = sms_code()
    response = client.post(
        "/login/", {"way": "code", "action": "login", "mobile": "13812345678", "code": "000000" if code != "000000" else "1"}
    )
    assert response.status_code == 400 and "还可以再试 4 次" in page(response)
    assert "_auth_user_id" not in client.session
    failure = AuditEvent.objects.get(action="identity.sign_in_failed")
    assert failure.after["method"] == "otp" and failure.after["who"] == "138****5678" and failure.object_id == str(citizen.public_id)


def test_password_login_with_the_mobile_number(citizen, templates):
    client = Client()
    response = client.post("/login/", {"username": "138 1234 5678", "password": CITIZEN_PASSWORD})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="identity.sign_in", object_id=str(citizen.public_id)).count() == 1


def test_lockout_is_per_username_and_address(citizen, other_citizen, templates):
    here = Client(REMOTE_ADDR="10.0.0.5")
    for _ in range(4):
        assert here.post("/login/", {"username": "13812345678", "password": "wrong-password-123"}).status_code == 400
    locked = here.post("/login/", {"username": "zhangxm", "password": "wrong-password-123"})  # the same person by name
    assert locked.status_code == 429
    assert "密码登录已暂停 15 分钟" in page(locked) and "?way=code" in page(locked) and "/password-reset/" in page(locked)
    # The right password from this address is refused too, by number or by name.
    assert here.post("/login/", {"username": "zhangxm", "password": CITIZEN_PASSWORD}).status_code == 429
    assert "_auth_user_id" not in here.session
    # Another person signs in from the same address (people share NAT) …
    assert Client(REMOTE_ADDR="10.0.0.5").post("/login/", {"username": "lihong", "password": CITIZEN_PASSWORD}).status_code == 302
    # … and the same person from another address.
    assert Client(REMOTE_ADDR="10.0.0.6").post("/login/", {"username": "zhangxm", "password": CITIZEN_PASSWORD}).status_code == 302
    failures = AuditEvent.objects.filter(action="identity.sign_in_failed", object_id=str(citizen.public_id))
    assert failures.count() == 6
    assert all("wrong-password" not in str(f.after) for f in failures)
    assert failures.filter(reason="已锁定").exists()


def test_the_one_time_code_way_is_not_locked_by_password_failures(citizen, templates):
    client = Client(REMOTE_ADDR="10.0.0.7")
    for _ in range(5):
        client.post("/login/", {"username": "zhangxm", "password": "wrong-password-123"})
    client.post("/login/", {"way": "code", "action": "send", "mobile": "13812345678"})
    response = client.post("/login/", {"way": "code", "action": "login", "mobile": "13812345678", "code": sms_code()})
    assert response.status_code == 302


def test_a_new_device_gets_a_notice_a_known_one_does_not(citizen, templates):
    signed_in_client("zhangxm", HTTP_USER_AGENT=PHONE_UA)  # the first sign-in has nothing to compare with
    signed_in_client("zhangxm", HTTP_USER_AGENT=PHONE_UA)
    assert inbox_titles(citizen) == []
    signed_in_client("zhangxm", HTTP_USER_AGENT=DESKTOP_UA)
    assert inbox_titles(citizen) == ["账户安全提醒：在新设备上登录"]
    signed_in_client("zhangxm", HTTP_USER_AGENT=DESKTOP_UA)
    assert len(inbox_titles(citizen)) == 1
    assert AuditEvent.objects.filter(action="identity.new_device").count() == 1


# --- passwords -----------------------------------------------------------------------------------------


def test_changing_the_password_notifies_and_ends_the_other_devices(citizen, templates):
    phone = signed_in_client("zhangxm", HTTP_USER_AGENT=PHONE_UA)
    desk = signed_in_client("zhangxm", HTTP_USER_AGENT=DESKTOP_UA)
    response = desk.post("/my/security/password/", {"old": "not-my-password", "password": NEW_PASSWORD})
    assert response.status_code == 400 and "当前密码不正确" in page(response)
    response = desk.post("/my/security/password/", {"old": CITIZEN_PASSWORD, "password": "1234567890123"})
    assert response.status_code == 400 and "不能全是数字" in page(response)
    response = desk.post("/my/security/password/", {"old": CITIZEN_PASSWORD, "password": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/my/security/"
    assert is_signed_in(desk)
    assert not is_signed_in(phone)
    citizen.refresh_from_db()
    assert citizen.check_password(NEW_PASSWORD)
    assert "账户安全提醒：修改了登录密码" in inbox_titles(citizen)
    assert AuditEvent.objects.get(action="identity.password_changed").after == {"other_sessions_ended": 1}
    # The sign-in that stayed still ends when ended from elsewhere (its session id followed the change).
    here = LoginSession.objects.get(account=citizen, ended_at=None)
    Client().get("/")  # nothing shared
    from tongban.identity import sessions

    sessions.session_end(login=here, reason="test")
    assert not is_signed_in(desk)


def test_resetting_the_password_ends_every_session_and_lifts_the_lockout(citizen, templates):
    phone = signed_in_client("zhangxm", HTTP_USER_AGENT=PHONE_UA)
    locked = Client(REMOTE_ADDR="10.0.0.8")
    for _ in range(5):
        locked.post("/login/", {"username": "zhangxm", "password": "wrong-password-123"})
    assert locked.post("/login/", {"username": "zhangxm", "password": CITIZEN_PASSWORD}).status_code == 429

    response = locked.post("/password-reset/", {"action": "send", "mobile": "13812345678"})
    assert response.status_code == 200 and "138****5678" in page(response)
    code = sms_code()
    response = locked.post("/password-reset/", {"action": "reset", "mobile": "13812345678", "code": code, "password": "short"})
    assert response.status_code == 400 and "至少要 12 个字符" in page(response)
    response = locked.post("/password-reset/", {"action": "reset", "mobile": "13812345678", "code": code, "password": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert not is_signed_in(phone)
    assert not LoginSession.objects.filter(account=citizen, ended_at=None).exists()
    assert "账户安全提醒：重设了登录密码" in inbox_titles(citizen)
    assert locked.post("/login/", {"username": "zhangxm", "password": NEW_PASSWORD}).status_code == 302


def test_reset_for_an_unknown_number_says_so_only_after_the_code(mini, templates):
    code = code_for("13912340000", "reset")
    with pytest.raises(ValidationFailed) as caught:
        persons.password_reset(mobile="13912340000", code=code, new=NEW_PASSWORD)
    assert caught.value.code == "not_registered"


# --- real-name levels ----------------------------------------------------------------------------------


def test_demo_population_ids_are_valid():
    from stdnum.cn import ric

    assert all(ric.is_valid(number) for _name, number, _status in DEMO_POPULATION)
    assert ("张晓明", "11010519491231002X", "normal") in DEMO_POPULATION
    assert ("李红", "360102198803150026", "normal") in DEMO_POPULATION


def test_l2_matches_the_population_base_and_takes_the_checked_name(templates):
    account = registered(name="小李")
    account = persons.realname_l2(account=account, name="李 红", id_number="360102198803150026")
    account.refresh_from_db()
    assert account.real_name_level == 2 and account.display_name == "李红" and account.id_number == "360102198803150026"
    event = RealNameEvent.objects.filter(account=account).latest("id")
    assert (event.level_from, event.level_to, event.method) == (1, 2, "population") and event.provider_reference.startswith("SBX-RK-")
    audit = AuditEvent.objects.get(action="identity.realname_level")
    assert audit.after["id_number"] == "360102********0026" and "360102198803150026" not in str(audit.after)
    assert "账户安全提醒：完成实名认证，等级升为L2" in inbox_titles(account)


@pytest.mark.parametrize(
    ("name", "number", "code"),
    [
        ("李白", "360102198803150026", "realname_mismatch"),
        ("王某", "360102199001010018", "realname_not_found"),
        ("罗志远", "360123198810301170", "realname_cancelled"),
    ],
)
def test_l2_mismatches_are_refused_and_remembered(templates, name, number, code):
    account = registered()
    with pytest.raises(ValidationFailed) as caught:
        persons.realname_l2(account=account, name=name, id_number=number)
    assert caught.value.code == code
    account.refresh_from_db()
    assert account.real_name_level == 1 and account.id_number == ""
    failure = AuditEvent.objects.get(action="identity.realname_failed")
    assert failure.after["step"] == "L2" and number not in str(failure.after)


def test_l2_refuses_a_bad_check_character_without_asking_the_base(templates, settings):
    settings.POPULATION_SANDBOX_OUTAGE = True  # never reached
    account = registered()
    with pytest.raises(ValidationFailed) as caught:
        persons.realname_l2(account=account, name="李红", id_number="360102198803150027")
    assert caught.value.code == "invalid_identity" and "id_number" in caught.value.details["fields"]


def test_l2_refuses_an_id_number_registered_to_another_account(citizen, templates):
    account = registered()
    with pytest.raises(Conflict) as caught:
        persons.realname_l2(account=account, name="张晓明", id_number="11010519491231002x")
    assert caught.value.code == "id_number_taken"
    # The holder themself is fine (imported accounts carry their number already).
    assert persons.realname_l2(account=citizen, name="张晓明", id_number="11010519491231002X").real_name_level == 2


def test_l2_outage_and_timeout_are_unavailable_not_failures(templates, settings):
    account = registered()
    settings.POPULATION_SANDBOX_OUTAGE = True
    with pytest.raises(ProviderUnavailable) as caught:
        persons.realname_l2(account=account, name="李红", id_number="360102198803150026")
    assert caught.value.status == 503 and "请过几分钟再试" in caught.value.message
    settings.POPULATION_SANDBOX_OUTAGE = False
    settings.POPULATION_TIMEOUT_MS = 100
    settings.POPULATION_SANDBOX_LATENCY_MS = 100
    with pytest.raises(ProviderUnavailable) as caught:
        persons.realname_l2(account=account, name="李红", id_number="360102198803150026")
    assert caught.value.code == "provider_timeout"
    assert not AuditEvent.objects.filter(action="identity.realname_failed").exists()
    account.refresh_from_db()
    assert account.real_name_level == 1


def test_l2_failures_are_capped_per_day(templates):
    account = registered()
    for _ in range(persons.REALNAME_FAILURES_PER_DAY):
        with pytest.raises(ValidationFailed):
            persons.realname_l2(account=account, name="李白", id_number="360102198803150026")
    with pytest.raises(persons.TooManyAttempts):
        persons.realname_l2(account=account, name="李红", id_number="360102198803150026")


def test_l3_needs_l2_and_a_fresh_token_of_the_same_person(templates):
    account = registered()
    face = population.SandboxFaceVerifier()
    with pytest.raises(ValidationFailed) as caught:
        persons.realname_l3(account=account, liveness_token=face.liveness_token("360102198803150026"))
    assert caught.value.code == "level_required"
    account = persons.realname_l2(account=account, name="李红", id_number="360102198803150026")

    with pytest.raises(ValidationFailed) as caught:
        persons.realname_l3(account=account, liveness_token=face.liveness_token("360102198803150026", same_person=False))
    assert caught.value.code == "realname_face_mismatch"
    with pytest.raises(ValidationFailed) as caught:  # a token made for someone else's number
        persons.realname_l3(account=account, liveness_token=face.liveness_token("11010519491231002X"))
    assert caught.value.code == "realname_invalid_token"

    token = face.liveness_token("360102198803150026")
    account = persons.realname_l3(account=account, liveness_token=token)
    assert account.real_name_level == 3
    assert RealNameEvent.objects.filter(account=account, method="face", level_to=3).exists()
    with pytest.raises(ValidationFailed) as caught:
        persons.realname_l3(account=account, liveness_token=token)
    assert caught.value.code == "level_reached"


def test_a_liveness_token_works_once(templates):
    face = population.SandboxFaceVerifier()
    token = face.liveness_token("360102198803150026")
    assert face.verify("360102198803150026", token).ok
    assert face.verify("360102198803150026", token).reason == "invalid_token"


def test_realname_page_l2_mismatch_outage_then_face(templates, settings):
    account = registered()
    client = Client()
    client.force_login(account)
    assert "核验并升级" in page(client.get("/my/realname/"))
    response = client.post("/my/realname/", {"step": "l2", "name": "李白", "id_number": "360102198803150026"})
    assert response.status_code == 400 and "姓名与身份证号码不一致" in page(response) and 'value="李白"' in page(response)
    settings.POPULATION_SANDBOX_OUTAGE = True
    response = client.post("/my/realname/", {"step": "l2", "name": "李红", "id_number": "360102198803150026"})
    assert response.status_code == 503 and "暂时无法连接" in page(response) and 'value="360102198803150026"' in page(response)
    settings.POPULATION_SANDBOX_OUTAGE = False
    response = client.post("/my/realname/", {"step": "l2", "name": "李红", "id_number": "360102198803150026"})
    assert response.status_code == 302
    text = page(client.get("/my/realname/"))
    assert "360102********0026" in text and "360102198803150026" not in text and "开始人脸核验" in text and "沙箱" in text
    response = client.post("/my/realname/", {"step": "face", "outcome": "other"})
    assert response.status_code == 400 and "人脸核验未通过" in page(response)
    assert client.post("/my/realname/", {"step": "face", "outcome": "same"}).status_code == 302
    account.refresh_from_db()
    assert account.real_name_level == 3


def test_l4_is_recorded_by_a_clerk_at_their_hall_only(mini, clerk, operator, templates):
    account = registered()
    hall = mini.halls[mini.donghu.code]
    other_hall = mini.halls[mini.wuyuan.code]
    with pytest.raises(ValidationFailed) as caught:
        persons.realname_l4(clerk=clerk, account=account, hall=hall, note="已核对身份证原件")
    assert caught.value.code == "level_required"
    persons.realname_l2(account=account, name="李红", id_number="360102198803150026")
    with pytest.raises(PermissionDenied):
        persons.realname_l4(clerk=clerk, account=account, hall=other_hall, note="已核对身份证原件")
    with pytest.raises(PermissionDenied):
        persons.realname_l4(clerk=account, account=account, hall=hall, note="自己给自己")
    account = persons.realname_l4(clerk=operator, account=account, hall=other_hall, note="已核对身份证原件，人证一致")
    assert account.real_name_level == 4
    event = RealNameEvent.objects.get(account=account, level_to=4)
    assert (event.method, event.recorded_by_id, event.hall_id, event.level_from) == ("hall", operator.pk, other_hall.pk, 2)
    audit = AuditEvent.objects.filter(action="identity.realname_level").latest("id")
    assert audit.actor_id == operator.pk and audit.reason == "已核对身份证原件，人证一致"
    assert "账户安全提醒：在大厅完成现场核验，等级升为L4" in inbox_titles(account)


def test_the_level_never_goes_down(mini, clerk, templates):
    account = registered()
    persons.realname_l2(account=account, name="李红", id_number="360102198803150026")
    persons.realname_l4(clerk=clerk, account=account, hall=mini.halls[mini.donghu.code], note="已核对身份证原件")
    face = population.SandboxFaceVerifier()
    for attempt in (
        lambda: persons.realname_l2(account=account, name="李红", id_number="360102198803150026"),
        lambda: persons.realname_l3(account=account, liveness_token=face.liveness_token("360102198803150026")),
        lambda: persons.realname_l4(clerk=clerk, account=account, hall=mini.halls[mini.donghu.code], note="again"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            attempt()
        assert caught.value.code == "level_reached"
        account.refresh_from_db()
        assert account.real_name_level == 4
    # Signing in again by code does not touch the level either.
    assert persons.person_login_otp(mobile=NEW_MOBILE, code=code_for(NEW_MOBILE, "login")).real_name_level == 4


# --- the console page for window clerks ----------------------------------------------------------------

CONSOLE = "/console/identity/realname"


def enrolled(staff: Account) -> Account:
    """A staff member past the console's own requirements (second factor, fresh password), which
    tests/test_staff.py covers; here only the real-name page is under test."""
    Account.objects.filter(pk=staff.pk).update(
        totp_secret_sealed="enrolled", totp_confirmed_at=timezone.now(), password_changed_at=timezone.now()
    )
    staff.refresh_from_db()
    return staff


def test_console_realname_is_for_staff_only(mini, citizen):
    anonymous = Client()
    for method in ("get", "post"):
        response = getattr(anonymous, method)(CONSOLE)
        assert response.status_code == 302 and response["Location"].startswith("/console/login")
    person = Client()
    person.force_login(citizen)
    assert person.get(CONSOLE).status_code == 403
    assert person.post(CONSOLE, {"action": "find", "mobile": "13812345678"}).status_code == 403
    assert not AuditEvent.objects.filter(action="identity.realname_lookup").exists()


def test_clerk_finds_by_number_sees_it_masked_and_records_l4(mini, clerk, templates):
    account = registered()
    persons.realname_l2(account=account, name="李红", id_number="360102198803150026")
    desk = Client()
    desk.force_login(enrolled(clerk))
    assert desk.get(CONSOLE).status_code == 200
    response = desk.post(CONSOLE, {"action": "find", "mobile": "13900000000"})
    assert response.status_code == 404 and "没有找到" in page(response)
    response = desk.post(CONSOLE, {"action": "find", "mobile": NEW_MOBILE})
    text = page(response)
    assert response.status_code == 200
    assert "李*" in text and "136****1111" in text and "360102********0026" in text
    assert "360102198803150026" not in text and NEW_MOBILE not in text.replace(f'value="{NEW_MOBILE}"', "")
    lookup = AuditEvent.objects.filter(action="identity.realname_lookup").latest("id")
    assert lookup.actor_id == clerk.pk and lookup.after == {"mobile": "136****1111", "found": 1}
    hall = mini.halls[mini.donghu.code]
    response = desk.post(CONSOLE, {"action": "record", "account": str(account.public_id), "hall": str(hall.pk), "note": ""})
    assert response.status_code == 422 and "请填写核验说明" in page(response)
    wuyuan = mini.halls[mini.wuyuan.code]
    response = desk.post(CONSOLE, {"action": "record", "account": str(account.public_id), "hall": str(wuyuan.pk), "note": "人证一致"})
    assert response.status_code == 422  # not a hall this clerk may choose
    response = desk.post(CONSOLE, {"action": "record", "account": str(account.public_id), "hall": str(hall.pk), "note": "人证一致"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.real_name_level == 4
    assert "完成现场核验" in page(desk.get(CONSOLE))


# --- 我的 and security -------------------------------------------------------------------------------


def test_my_home_shows_everything_masked_with_the_way_up(citizen):
    client = Client()
    client.force_login(citizen)
    text = page(client.get("/my/"))
    assert "张**" in text and "138****5678" in text and "110105********002X" in text
    assert "张晓明" not in text and "13812345678" not in text and "11010519491231002X" not in text
    assert "L2 实名用户" in text and "如何升级" in text and "/my/realname/" in text and "/my/enterprises/" in text
    assert "/my/security/" in text and "/my/messages/" in text
    assert "<span>我的</span>" in text


def test_log_out_everywhere_ends_the_other_clients_session(citizen, templates):
    phone = signed_in_client("zhangxm", HTTP_USER_AGENT=PHONE_UA)
    desk = signed_in_client("zhangxm", HTTP_USER_AGENT=DESKTOP_UA)
    text = page(desk.get("/my/security/"))
    assert "本设备" in text and "安卓手机 · Chrome 浏览器" in text and "Windows 电脑 · Chrome 浏览器" in text
    response = desk.post("/my/security/sessions/end-all/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    response = phone.get("/my/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not is_signed_in(desk)
    assert not LoginSession.objects.filter(account=citizen, ended_at=None).exists()


def test_end_one_other_device_and_not_someone_elses(citizen, other_citizen, templates):
    phone = signed_in_client("zhangxm", HTTP_USER_AGENT=PHONE_UA)
    desk = signed_in_client("zhangxm", HTTP_USER_AGENT=DESKTOP_UA)
    theirs = signed_in_client("lihong")
    their_session = LoginSession.objects.get(account=other_citizen)
    response = desk.post(f"/my/security/sessions/{their_session.public_id}/end/")
    assert response.status_code == 404
    assert is_signed_in(theirs)
    phone_session = LoginSession.objects.get(account=citizen, user_agent=PHONE_UA)
    assert desk.post(f"/my/security/sessions/{phone_session.public_id}/end/").status_code == 302
    assert not is_signed_in(phone) and is_signed_in(desk)
    desk_session = LoginSession.objects.get(account=citizen, user_agent=DESKTOP_UA)
    response = desk.post(f"/my/security/sessions/{desk_session.public_id}/end/")  # this device: a sign-out
    assert response.status_code == 302 and not is_signed_in(desk)


def test_revoking_an_authorised_application(citizen, other_citizen):
    application = OidcApplication.objects.create(
        name="赣州市公积金网厅",
        client_type=OidcApplication.CLIENT_CONFIDENTIAL,
        authorization_grant_type=OidcApplication.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://gjj.example.cn/callback",
        algorithm=OidcApplication.RS256_ALGORITHM,
        client_secret=secrets.token_urlsafe(32),
    )
    consents.grant(account=citizen, application=application, scopes=["openid", "profile"])
    consents.grant(account=other_citizen, application=application, scopes=["openid"])
    mine, theirs = Client(), Client()
    mine.force_login(citizen)
    theirs.force_login(other_citizen)
    text = page(mine.get("/my/security/"))
    assert "赣州市公积金网厅" in text and "姓名（脱敏）和实名等级" in text
    assert theirs.post(f"/my/security/apps/{application.public_id}/revoke/").status_code == 302  # their own consent
    assert Consent.objects.get(account=citizen).revoked_at is None
    assert mine.post(f"/my/security/apps/{application.public_id}/revoke/").status_code == 302
    assert Consent.objects.get(account=citizen).revoked_at is not None
    assert "赣州市公积金网厅" not in page(mine.get("/my/security/")).split("</h1>", 1)[1]
    assert mine.post(f"/my/security/apps/{application.public_id}/revoke/").status_code == 404
    assert AuditEvent.objects.filter(action="identity.consent_revoked", actor=citizen).count() == 1


@pytest.mark.parametrize(
    "path",
    ["/my/", "/my/realname/", "/my/security/", "/my/security/password/", "/my/security/sessions/end-all/"],
)
def test_my_pages_send_anonymous_visitors_to_sign_in_and_back(mini, path):
    response = Client().post(path)
    assert response.status_code == 302
    back = "/my/" if path == "/my/" else ("/my/realname/" if "realname" in path else "/my/security/")
    assert response["Location"] == f"/login/?next={back}"


def test_staff_are_not_citizens_on_my_pages(clerk):
    client = Client()
    client.force_login(clerk)
    assert client.get("/my/").status_code == 302


def test_sign_in_and_level_changes_leave_audit_rows(citizen, templates):
    signed_in_client("zhangxm")
    Client().post("/login/", {"username": "zhangxm", "password": "wrong-password-123"})
    persons.realname_l2(account=citizen, name="张晓明", id_number="11010519491231002X")
    actions = set(AuditEvent.objects.filter(object_id=str(citizen.public_id)).values_list("action", flat=True))
    assert {"identity.sign_in", "identity.sign_in_failed", "identity.realname_level"} <= actions
