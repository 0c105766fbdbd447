"""Staff security and the identity pages of the console, through the real database and the test
client: TOTP enrolment and verification, the two-step console sign-in, password complexity and
rotation, the 15-minute idle timeout, roles and the query-level permission helpers, and the
register of applications (console and `tongban oidc-client`) against the OAuth2 token endpoint.

Personas: `operator` and `clerk` (window clerk of 东湖区公安局) from tests/conftest.py, enrolled
with known TOTP secrets; more staff are made here as each test needs them.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
from datetime import timedelta
from html import unescape
from urllib.parse import quote, urlencode

import pyotp
import pytest
from django.contrib.auth.hashers import check_password
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from tests.conftest import STAFF_PASSWORD, staff_ready
from tests.staff_support import console_sign_in, fresh_code
from tongban.catalog.models import Implementation
from tongban.common.errors import PermissionDenied, ValidationFailed
from tongban.common.models import AuditEvent
from tongban.identity import access, applications, staff
from tongban.identity import services as identity
from tongban.identity.models import Account, ApiClient, LoginSession, OidcApplication, StaffRole
from tongban.org.models import Department
from tongban.web.console import urls as console_urls

STRONG = "Tongban-Staff-2026"
NOW = 1_800_000_000.0  # a fixed moment for the service-level TOTP tests (a step boundary: 30 | NOW)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def html(response) -> str:
    return unescape(response.content.decode())


def make_staff(username: str, department: Department | None, *, kind: str = "staff", ready: bool = True) -> Account:
    account = identity.staff_account_upsert(
        actor=None, username=username, password=STAFF_PASSWORD, display_name=f"{username} 同志", kind=kind, department=department
    )
    return staff_ready(account) if ready else account


def signed_in(account: Account) -> Client:
    client = Client()
    client.force_login(account)
    return client


def code_at(secret: str, moment: float) -> str:
    return pyotp.TOTP(secret).at(moment)


# --- TOTP -----------------------------------------------------------------------------------------


def test_enrolment_needs_a_first_code_and_seals_the_secret(mini):
    person = make_staff("new-clerk", mini.police_county, ready=False)
    secret = staff.totp_new_secret()
    assert len(secret) == 32
    assert not staff.totp_confirm(account=person, secret=secret, code="000000", now=NOW)
    person.refresh_from_db()
    assert not staff.totp_enrolled(person) and person.totp_secret_sealed == ""
    assert staff.totp_confirm(account=person, secret=secret, code=code_at(secret, NOW), now=NOW)
    person.refresh_from_db()
    assert staff.totp_enrolled(person)
    assert secret not in person.totp_secret_sealed  # sealed at rest
    assert staff.totp_unseal(person.totp_secret_sealed) == secret
    assert person.totp_last_step == int(NOW // 30)  # the enrolment code is spent
    assert AuditEvent.objects.filter(action="staff.totp_enrol", object_id=str(person.public_id)).count() == 1
    uri = staff.totp_provisioning_uri(person, secret)
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri


def test_codes_within_one_step_are_accepted_once_and_in_order(clerk):
    secret = staff.demo_totp_secret(clerk.username)
    step = int(NOW // 30)
    assert staff.totp_verify(account=clerk, code=code_at(secret, NOW - 30), now=NOW)  # previous step: clock drift
    assert not staff.totp_verify(account=clerk, code=code_at(secret, NOW - 30), now=NOW)  # replay
    assert staff.totp_verify(account=clerk, code=code_at(secret, NOW + 30), now=NOW)  # next step
    assert not staff.totp_verify(account=clerk, code=code_at(secret, NOW), now=NOW)  # older than the last one accepted
    assert not staff.totp_verify(account=clerk, code=code_at(secret, NOW + 60), now=NOW)  # outside the window
    assert not staff.totp_verify(account=clerk, code=code_at(secret, NOW - 60), now=NOW)
    clerk.refresh_from_db()
    assert clerk.totp_last_step == step + 1


def test_a_wrong_code_is_refused_and_audited(clerk):
    before = clerk.totp_last_step
    for wrong in ("123456", "12345", "abcdef", "", "1234567"):
        assert not staff.totp_verify(account=clerk, code=wrong, now=NOW)
    clerk.refresh_from_db()
    assert clerk.totp_last_step == before
    assert AuditEvent.objects.filter(action="staff.totp_failed", object_id=str(clerk.public_id)).count() == 5


def test_an_unenrolled_account_never_verifies(mini):
    person = make_staff("no-totp", mini.police_county, ready=False)
    assert not staff.totp_verify(account=person, code="123456")


# --- console sign-in --------------------------------------------------------------------------------


def test_enrolled_staff_need_the_code_after_the_password(operator, client):
    response = client.post("/console/login", {"username": "yunying", "password": STAFF_PASSWORD, "next": "/console/calendar"})
    assert response.status_code == 302 and response.url == "/console/login/code"
    assert "_auth_user_id" not in client.session  # the password alone signs nobody in
    assert client.get("/console/").url == "/console/login?next=/console/"
    pending_key = client.session.session_key
    page = client.get("/console/login/code")
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in html(page)
    response = client.post("/console/login/code", {"code": "000000"})
    assert response.status_code == 400
    assert "验证码不正确或已使用过" in html(response)
    response = client.post("/console/login/code", {"code": fresh_code(operator)})
    assert response.status_code == 302 and response.url == "/console/calendar"
    assert client.session["_auth_user_id"] == str(operator.pk)
    assert client.session.session_key != pending_key  # a new session id on sign-in
    login = LoginSession.objects.get(account=operator)
    assert login.method == "totp" and login.ended_at is None
    assert client.get("/console/").status_code == 200
    # Signing out ends the login session too.
    assert client.post("/console/logout").url == "/console/login"
    login.refresh_from_db()
    assert login.ended_at is not None
    assert client.get("/console/").status_code == 302


def test_the_same_code_cannot_sign_in_twice(operator):
    first, second = Client(), Client()
    for c in (first, second):
        assert c.post("/console/login", {"username": "yunying", "password": STAFF_PASSWORD}).url == "/console/login/code"
    code = fresh_code(operator)
    assert first.post("/console/login/code", {"code": code}).status_code == 302
    response = second.post("/console/login/code", {"code": code})
    assert response.status_code == 400
    assert "_auth_user_id" not in second.session


@pytest.mark.parametrize("kind", ["staff", "operator"])
def test_staff_without_a_second_factor_enrol_right_after_the_password(mini, client, kind):
    person = make_staff(f"fresh-{kind}", mini.police_county if kind == "staff" else None, kind=kind, ready=False)
    response = client.post("/console/login", {"username": person.username, "password": STAFF_PASSWORD, "next": "/console/catalog/items"})
    assert response.status_code == 302 and response.url == "/console/login/enrol"
    assert client.get("/console/login/code").url == "/console/login/enrol"
    page = client.get("/console/login/enrol")
    text = html(page)
    assert page.status_code == 200
    assert 'src="data:image/svg+xml' in text  # the QR code, inline, no script
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', text).group(1).replace(" ", "")
    again = html(client.get("/console/login/enrol"))
    assert f'id="totp-secret">{secret[:4]} ' in again  # the same secret until it is confirmed
    assert client.post("/console/login/enrol", {"code": "000000"}).status_code == 400
    person.refresh_from_db()
    assert not staff.totp_enrolled(person) and "_auth_user_id" not in client.session
    response = client.post("/console/login/enrol", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response.url == "/console/catalog/items"
    person.refresh_from_db()
    assert staff.totp_enrolled(person) and staff.totp_unseal(person.totp_secret_sealed) == secret
    assert LoginSession.objects.get(account=person).method == "totp"
    assert client.get("/console/catalog/items").status_code == 200


def test_a_signed_in_account_without_a_second_factor_can_only_enrol(mini):
    person = make_staff("legacy-operator", None, kind="operator", ready=False)
    browser = signed_in(person)
    for url in ("/console/", "/console/catalog/items", "/console/messages/", "/console/identity/apps"):
        response = browser.get(url)
        assert response.status_code == 302 and response.url == "/console/account/totp?" + urlencode({"next": url}), url
    response = browser.post("/console/calendar/override", {"date": "2026-10-10", "is_workday": "0", "note": "未绑定"})
    assert response.status_code == 302 and response.url == "/console/account/totp"
    page = browser.get("/console/account/totp")
    assert page.status_code == 200 and "工作人员使用后台必须绑定动态验证码" in html(page)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html(page)).group(1).replace(" ", "")
    wrong_password = browser.post("/console/account/totp", {"password": "wrong", "code": pyotp.TOTP(secret).now()})
    assert wrong_password.status_code == 400 and "当前密码不正确" in html(wrong_password)
    ok = browser.post("/console/account/totp", {"password": STAFF_PASSWORD, "code": pyotp.TOTP(secret).now(), "next": "/console/"})
    assert ok.status_code == 302 and ok.url == "/console/"
    assert browser.get("/console/").status_code == 200


def test_re_enrolment_replaces_the_old_secret(clerk):
    browser = signed_in(clerk)
    old = staff.demo_totp_secret(clerk.username)
    page = browser.get("/console/account/totp")
    assert "更换手机或验证器" in html(page)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html(page)).group(1).replace(" ", "")
    assert secret != old
    assert browser.post("/console/account/totp", {"password": STAFF_PASSWORD, "code": pyotp.TOTP(secret).now()}).status_code == 302
    clerk.refresh_from_db()
    assert staff.totp_unseal(clerk.totp_secret_sealed) == secret


def test_five_wrong_codes_end_the_attempt_and_count_as_failed_sign_ins(operator, client):
    client.post("/console/login", {"username": "yunying", "password": STAFF_PASSWORD})
    for _ in range(4):
        assert client.post("/console/login/code", {"code": "000000"}).status_code == 400
    response = client.post("/console/login/code", {"code": "000000"})
    assert response.status_code == 302 and response.url == "/console/login"
    assert client.get("/console/login/code").url == "/console/login"  # back to the password
    # The five wrong codes were five failures for this username and address (django-axes): the
    # right password is now refused here, in Chinese, and another address is not held up.
    response = client.post("/console/login", {"username": "yunying", "password": STAFF_PASSWORD})
    assert response.status_code == 429
    assert "登录失败次数过多" in html(response)
    other = Client(REMOTE_ADDR="10.0.0.9")
    assert other.post("/console/login", {"username": "yunying", "password": STAFF_PASSWORD}).url == "/console/login/code"


def test_five_wrong_passwords_lock_the_username_on_this_address(operator, client):
    for _ in range(5):
        assert client.post("/console/login", {"username": "yunying", "password": "Wrong-Password-1"}).status_code in (400, 429)
    response = client.post("/console/login", {"username": "yunying", "password": STAFF_PASSWORD})
    assert response.status_code == 429 and "登录失败次数过多" in html(response)
    assert "_auth_user_id" not in client.session


def test_the_half_way_state_expires(operator, client):
    client.post("/console/login", {"username": "yunying", "password": STAFF_PASSWORD})
    session = client.session
    session["tb_console_pending"] = {**session["tb_console_pending"], "at": time.time() - 301}
    session.save()
    response = client.post("/console/login/code", {"code": fresh_code(operator)})
    assert response.status_code == 302 and response.url == "/console/login"
    assert "_auth_user_id" not in client.session


def test_citizens_cannot_start_the_console_sign_in(mini, citizen, client):
    from tests.conftest import CITIZEN_PASSWORD

    response = client.post("/console/login", {"username": citizen.username, "password": CITIZEN_PASSWORD})
    assert response.status_code == 400
    assert "此账号不是工作人员账号" in html(response)
    assert "tb_console_pending" not in client.session


def test_the_admin_has_no_password_only_sign_in(operator, client):
    response = client.get("/console/admin/login/?next=/console/admin/")
    assert response.status_code == 302 and response.url == "/console/login?next=/console/admin/"
    response = client.post("/console/admin/login/", {"username": "yunying", "password": STAFF_PASSWORD})
    assert response.status_code == 302 and "_auth_user_id" not in client.session


# --- passwords -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("Tongban-Staff-2026", True),
        ("Aa1!aaaaaaaa", True),
        ("Aa1!aaaaaaa", False),  # 11 characters
        ("tongban-staff-2026", False),  # no upper case
        ("TONGBAN-STAFF-2026", False),  # no lower case
        ("Tongban-Staff-Two", False),  # no digit
        ("TongbanStaff2026", False),  # no symbol
        ("控制台-测试-密码-2026", False),  # no Latin letters at all
    ],
)
def test_staff_password_complexity(password, ok):
    validator = staff.StaffPasswordValidator()
    if ok:
        validator.validate(password)
        assert staff.staff_password_problems(password) == []
    else:
        with pytest.raises(Exception) as caught:
            validator.validate(password)
        assert "工作人员密码" in str(caught.value)


def test_password_change_applies_the_policy_and_restarts_the_clock(clerk):
    with pytest.raises(ValidationFailed) as weak:
        staff.password_change(account=clerk, new_password="password")
    assert weak.value.code == "weak_password"
    clerk.set_password(STRONG)
    clerk.save(update_fields=["password"])
    with pytest.raises(ValidationFailed) as same:
        staff.password_change(account=clerk, new_password=STRONG)
    assert same.value.code == "password_reused"
    staff.password_change(account=clerk, new_password="Another-Strong-2027")
    clerk.refresh_from_db()
    assert clerk.check_password("Another-Strong-2027")
    assert timezone.now() - clerk.password_changed_at < timedelta(seconds=5)
    assert AuditEvent.objects.filter(action="staff.password_change", object_id=str(clerk.public_id)).count() == 1


def test_an_old_password_must_be_changed_before_anything_else(clerk, settings):
    Account.objects.filter(pk=clerk.pk).update(
        password_changed_at=timezone.now() - timedelta(days=settings.STAFF_PASSWORD_MAX_AGE_DAYS + 1)
    )
    browser = Client()
    assert console_sign_in(browser, clerk, STAFF_PASSWORD, next_url="/console/catalog/items").url == "/console/catalog/items"
    for url in ("/console/", "/console/catalog/items"):
        response = browser.get(url)
        assert response.status_code == 302 and response.url.startswith("/console/account/password?next="), url
    page = browser.get("/console/account/password?next=/console/catalog/items")
    assert page.status_code == 200 and "请先设置新密码" in html(page)
    wrong = browser.post("/console/account/password", {"old_password": "nope", "new_password": STRONG, "new_password_again": STRONG})
    assert wrong.status_code == 400 and "当前密码不正确" in html(wrong)
    weak = browser.post(
        "/console/account/password", {"old_password": STAFF_PASSWORD, "new_password": "tongban2026", "new_password_again": "tongban2026"}
    )
    assert weak.status_code == 400 and "工作人员密码至少需要 12 个字符" in html(weak) and "大写字母" in html(weak)
    mismatch = browser.post(
        "/console/account/password", {"old_password": STAFF_PASSWORD, "new_password": STRONG, "new_password_again": STRONG + "x"}
    )
    assert mismatch.status_code == 400 and "两次输入的新密码不一致" in html(mismatch)
    done = browser.post(
        "/console/account/password",
        {"old_password": STAFF_PASSWORD, "new_password": STRONG, "new_password_again": STRONG, "next": "/console/catalog/items"},
    )
    assert done.status_code == 302 and done.url == "/console/catalog/items"
    assert browser.get("/console/catalog/items").status_code == 200  # still signed in
    clerk.refresh_from_db()
    assert clerk.check_password(STRONG) and not staff.password_expired(clerk)


def test_a_password_never_changed_ages_from_the_account_creation(clerk, settings):
    clerk.password_changed_at = None  # an account imported without a date
    assert not staff.password_expired(clerk)
    later = timezone.now() + timedelta(days=settings.STAFF_PASSWORD_MAX_AGE_DAYS + 1)
    assert staff.password_expired(clerk, now=later)
    assert staff.console_requirement(clerk) is None


def test_a_password_set_by_the_upsert_starts_the_rotation_clock(clerk, settings):
    assert clerk.password_changed_at is not None
    later = clerk.password_changed_at + timedelta(days=settings.STAFF_PASSWORD_MAX_AGE_DAYS + 1)
    assert not staff.password_expired(clerk) and staff.password_expired(clerk, now=later)


# --- idle timeout ---------------------------------------------------------------------------------------


def test_staff_sessions_end_after_fifteen_idle_minutes(clerk, settings):
    browser = Client()
    console_sign_in(browser, clerk, STAFF_PASSWORD)
    assert browser.get("/console/").status_code == 200
    row = Session.objects.get(session_key=browser.session.session_key)
    idle = (row.expire_date - timezone.now()).total_seconds()
    assert settings.STAFF_SESSION_IDLE_SECONDS == 900 and 890 < idle <= 900  # 15 minutes, not the citizens' 30
    # 14 minutes later the session is still there, and the request pushes the expiry forward.
    Session.objects.filter(pk=row.pk).update(expire_date=timezone.now() + timedelta(minutes=1))
    assert browser.get("/console/").status_code == 200
    assert Session.objects.get(pk=row.pk).expire_date > timezone.now() + timedelta(minutes=14)
    # 15 minutes without a request: signed out.
    Session.objects.filter(pk=row.pk).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = browser.get("/console/")
    assert response.status_code == 302 and response.url == "/console/login?next=/console/"


# --- query-level permissions -------------------------------------------------------------------------


def test_departments_for_is_one_query_with_the_roles_in_it(mini, clerk, operator, citizen, django_assert_num_queries):
    reach = access.departments_for(clerk)
    assert "identity_staffrole" in str(reach.query)
    with django_assert_num_queries(1):
        assert list(reach) == [mini.police_donghu]
    assert list(access.departments_for(clerk, StaffRole.Role.WINDOW_CLERK)) == [mini.police_donghu]
    assert list(access.departments_for(clerk, StaffRole.Role.REVIEWER)) == []
    assert access.departments_for(operator).count() == Department.objects.count()
    assert list(access.departments_for(citizen)) == []
    from django.contrib.auth.models import AnonymousUser

    assert list(access.departments_for(AnonymousUser())) == []
    assert access.staff_may(clerk, StaffRole.Role.WINDOW_CLERK, mini.police_donghu)
    assert not access.staff_may(clerk, StaffRole.Role.WINDOW_CLERK, mini.police_county)
    assert not access.staff_may(clerk, StaffRole.Role.APPROVER, mini.police_donghu)
    assert access.staff_may(operator, StaffRole.Role.APPROVER, mini.police_wuyuan)


def test_a_clerk_of_another_department_sees_nothing_in_the_query(mini, clerk, operator):
    wuyuan = make_staff("wuyuan-police", mini.police_wuyuan)
    implementations = Implementation.objects.all()
    donghu_rows = implementations.filter(department=mini.police_donghu)
    assert donghu_rows.exists()
    scoped = access.scope(implementations, wuyuan)
    sql = str(scoped.query)
    assert f'"department_id" IN ({mini.police_wuyuan.pk})' in sql  # the reach, read first, is in the statement
    assert set(scoped.values_list("department", flat=True)) == {mini.police_wuyuan.pk}
    assert not access.scope(donghu_rows, wuyuan).exists()
    assert set(access.scope(implementations, clerk).values_list("department", flat=True)) == {mini.police_donghu.pk}
    assert access.scope(implementations, operator).count() == implementations.count()
    assert not Implementation.objects.filter(access.role_filter(wuyuan), department=mini.police_donghu).exists()
    # A role elsewhere widens the reach, in the same query.
    staff.role_grant(actor=operator, account=wuyuan, role=StaffRole.Role.REVIEWER, department=mini.police_donghu)
    assert access.scope(donghu_rows, wuyuan, role=StaffRole.Role.REVIEWER).count() == donghu_rows.count()
    assert not access.scope(donghu_rows, wuyuan, role=StaffRole.Role.WINDOW_CLERK).exists()
    # An inactive account reaches nothing.
    Account.objects.filter(pk=wuyuan.pk).update(is_active=False)
    wuyuan.refresh_from_db()
    assert not access.scope(implementations, wuyuan).exists()


def test_a_reach_wider_than_a_few_departments_stays_a_subquery(mini, operator, monkeypatch):
    monkeypatch.setattr(access, "LITERAL_DEPARTMENTS", 0)
    wuyuan = make_staff("wuyuan-police", mini.police_wuyuan)
    scoped = access.scope(Implementation.objects.all(), wuyuan)
    assert "identity_staffrole" in str(scoped.query) and "IN (SELECT" in str(scoped.query).upper()
    assert set(scoped.values_list("department", flat=True)) == {mini.police_wuyuan.pk}


# --- roles -------------------------------------------------------------------------------------------


def test_who_may_grant_which_role(mini, clerk, operator):
    admin = make_staff("market-admin", mini.market_donghu)
    staff.system_role_grant(account=admin, role=StaffRole.Role.DEPT_ADMIN, department=mini.market_donghu)
    colleague = make_staff("market-clerk", mini.market_donghu)
    events = AuditEvent.objects.filter(action="staff_role.grant").count()

    # A department administrator: working roles of their own department's staff.
    role, created = staff.role_grant(actor=admin, account=colleague, role=StaffRole.Role.REVIEWER, department=mini.market_donghu)
    assert created and role.granted_by == admin
    assert staff.role_grant(actor=admin, account=colleague, role=StaffRole.Role.REVIEWER, department=mini.market_donghu)[1] is False
    refused = [
        {"account": colleague, "role": StaffRole.Role.DEPT_ADMIN, "department": mini.market_donghu},  # not this role
        {"account": clerk, "role": StaffRole.Role.REVIEWER, "department": mini.police_donghu},  # not that department
        {"account": clerk, "role": StaffRole.Role.REVIEWER, "department": mini.market_donghu},  # not someone else's staff
        {"account": admin, "role": StaffRole.Role.APPROVER, "department": mini.market_donghu},  # not themselves
    ]
    for attempt in refused:
        with pytest.raises(PermissionDenied):
            staff.role_grant(actor=admin, **attempt)
    # A clerk without the administrator role grants nothing.
    with pytest.raises(PermissionDenied):
        staff.role_grant(actor=clerk, account=colleague, role=StaffRole.Role.APPROVER, department=mini.market_donghu)
    # Operators grant anything that fits the account.
    staff.role_grant(actor=operator, account=colleague, role=StaffRole.Role.DEPT_ADMIN, department=mini.market_donghu)
    with pytest.raises(ValidationFailed):
        staff.role_grant(actor=operator, account=colleague, role=StaffRole.Role.OPERATOR)
    with pytest.raises(ValidationFailed):
        staff.role_grant(actor=operator, account=colleague, role=StaffRole.Role.APPROVER)  # needs a department
    with pytest.raises(PermissionDenied):
        staff.role_grant(actor=operator, account=operator, role=StaffRole.Role.AUDITOR)
    assert AuditEvent.objects.filter(action="staff_role.grant").count() == events + 2
    # Revoking follows the same rules.
    with pytest.raises(PermissionDenied):
        staff.role_revoke(actor=clerk, staff_role=role)
    staff.role_revoke(actor=admin, staff_role=role, reason="调岗")
    assert not StaffRole.objects.filter(pk=role.pk).exists()
    assert AuditEvent.objects.get(action="staff_role.revoke").reason == "调岗"


def test_personas_hold_their_role(mini, operator, clerk):
    assert list(StaffRole.objects.filter(account=operator).values_list("role", "department")) == [("operator", None)]
    assert list(StaffRole.objects.filter(account=clerk).values_list("role", "department")) == [("window_clerk", mini.police_donghu.pk)]


def test_staff_pages_for_operators_and_department_administrators(mini, clerk, operator):
    admin = make_staff("market-admin", mini.market_donghu)
    staff.system_role_grant(account=admin, role=StaffRole.Role.DEPT_ADMIN, department=mini.market_donghu)
    colleague = make_staff("market-clerk", mini.market_donghu)

    page = html(signed_in(operator).get("/console/identity/staff"))
    assert "market-clerk" in page and "donghu-police" in page and "yunying" in page

    browser = signed_in(admin)
    page = html(browser.get("/console/identity/staff"))
    assert "market-clerk" in page and "donghu-police" not in page and "yunying" not in page
    assert browser.get(f"/console/identity/staff/{clerk.public_id}").status_code == 404  # not in the query
    assert browser.get(f"/console/identity/staff/{colleague.public_id}").status_code == 200
    response = browser.post(f"/console/identity/staff/{colleague.public_id}", {"role": "approver", "department": mini.market_donghu.pk})
    assert response.status_code == 302
    assert StaffRole.objects.filter(account=colleague, role="approver", department=mini.market_donghu).exists()
    # Roles an administrator may not give are not even offered, and refused when posted.
    response = browser.post(f"/console/identity/staff/{colleague.public_id}", {"role": "dept_admin", "department": mini.market_donghu.pk})
    assert response.status_code == 422
    assert not StaffRole.objects.filter(account=colleague, role="dept_admin").exists()
    granted = StaffRole.objects.get(account=colleague, role="approver")
    assert browser.post(f"/console/identity/staff/{colleague.public_id}/roles/{granted.pk}/revoke").status_code == 302
    assert not StaffRole.objects.filter(pk=granted.pk).exists()
    # TOTP reset is for operators.
    assert browser.post(f"/console/identity/staff/{colleague.public_id}/totp-reset", {"reason": "丢手机"}).status_code == 403

    # A clerk manages nobody.
    clerk_browser = signed_in(clerk)
    assert clerk_browser.get("/console/identity/staff").status_code == 403
    assert clerk_browser.post(f"/console/identity/staff/{colleague.public_id}", {"role": "approver"}).status_code == 403


def test_an_operator_resets_a_lost_second_factor(mini, clerk, operator):
    clerk_browser = Client()
    console_sign_in(clerk_browser, clerk, STAFF_PASSWORD)
    browser = signed_in(operator)
    assert browser.post(f"/console/identity/staff/{clerk.public_id}/totp-reset", {"reason": ""}).status_code == 302
    clerk.refresh_from_db()
    assert staff.totp_enrolled(clerk)  # a reason is required
    assert browser.post(f"/console/identity/staff/{clerk.public_id}/totp-reset", {"reason": "手机丢失"}).status_code == 302
    clerk.refresh_from_db()
    assert not staff.totp_enrolled(clerk)
    assert clerk_browser.get("/console/").status_code == 302  # signed out everywhere
    assert not LoginSession.objects.filter(account=clerk, ended_at=None).exists()
    response = Client().post("/console/login", {"username": clerk.username, "password": STAFF_PASSWORD})
    assert response.url == "/console/login/enrol"


# --- walking the identity routes --------------------------------------------------------------------


def _identity_routes(sample) -> list[tuple[str, str]]:
    from django.urls import reverse

    routes = []
    for pattern in console_urls.urlpatterns:
        if not pattern.name.startswith("identity"):
            continue
        kwargs = {name: sample[name] for name in pattern.pattern.converters}
        routes.append((pattern.name, reverse(f"console:{pattern.name}", kwargs=kwargs or None)))
    return routes


@pytest.fixture
def sample(mini, clerk, operator):
    app, _secret = applications.application_create(
        actor=None,
        data=applications.AppData(
            name="样例应用",
            redirect_uris=["https://app.example.cn/cb"],
            post_logout_redirect_uris=[],
            backchannel_logout_uri="",
            scopes=["openid"],
        ),
    )
    role = StaffRole.objects.get(account=clerk)
    return {"public_id": app.public_id, "role_id": role.pk, "app": app, "role": role}


def test_identity_routes_anonymous_visitors_go_to_sign_in(sample, client):
    routes = _identity_routes(sample)
    assert len(routes) == 14
    for name, url in routes:
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code in (302, 405), (name, response.status_code)
            if response.status_code == 302:
                assert response.url.startswith("/console/login"), (name, response.url)


OPERATOR_ONLY = {
    "identity_apps",
    "identity_app_new",
    "identity_app",
    "identity_app_disable",
    "identity_app_secret",
    "identity_staff_totp_reset",
    "identity_import",
}


def test_clerks_get_403_on_the_operator_pages_and_change_nothing(sample, clerk):
    browser = signed_in(clerk)
    events = AuditEvent.objects.count()
    routes = dict(_identity_routes(sample))
    for name in OPERATOR_ONLY | {"identity_staff", "identity_staff_member", "identity_staff_revoke"}:
        assert browser.get(routes[name]).status_code in (403, 405), name
        assert browser.post(routes[name], {"reason": "试图操作", "name": "篡改"}).status_code == 403, name
    assert AuditEvent.objects.count() == events
    sample["app"].refresh_from_db()
    assert sample["app"].name == "样例应用" and not applications.is_disabled(sample["app"])
    assert StaffRole.objects.filter(pk=sample["role"].pk).exists()


def test_identity_pages_render_without_inline_script_or_style(sample, operator):
    browser = signed_in(operator)
    post_only = {"identity_app_disable", "identity_app_secret", "identity_staff_revoke", "identity_staff_totp_reset"}
    for name, url in _identity_routes(sample):
        response = browser.get(url)
        if name in post_only:
            assert response.status_code == 405, name
            continue
        if name in ("identity_login_code", "identity_login_enrol"):
            assert response.status_code == 302, name  # nobody is half-way
            continue
        if name == "identity_staff_member":
            url = f"/console/identity/staff/{sample['role'].account.public_id}"
            response = browser.get(url)
        assert response.status_code == 200, name
        assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private", name
        page = html(response)
        assert 'style="' not in page and "<style" not in page, name
        assert re.findall(r"<script(?![^>]*\bsrc=)", page) == [], name
        assert "script-src 'self'" in response["Content-Security-Policy"]


# --- applications ------------------------------------------------------------------------------------


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()).decode()


def app_form(**overrides):
    data = {
        "name": "南昌公积金网上服务",
        "grant_type": "authorization-code",
        "client_type": "confidential",
        "redirect_uris": "https://gjj.nc.example.cn/oidc/callback\nhttp://127.0.0.1:9000/cb",
        "post_logout_redirect_uris": "https://gjj.nc.example.cn/",
        "backchannel_logout_uri": "https://gjj.nc.example.cn/oidc/logout",
        "scopes": ["openid", "profile", "phone"],
        "id_number_reason": "",
        "department": "",
    }
    data.update(overrides)
    return data


def test_operators_register_an_application_and_see_the_secret_once(mini, operator):
    browser = signed_in(operator)
    assert browser.get("/console/identity/apps/new").status_code == 200
    response = browser.post("/console/identity/apps/new", app_form(department=mini.market_nanchang.credit_code))
    assert response.status_code == 200
    page = html(response)
    secret = re.search(r'id="client-secret">([^<]+)<', page).group(1)
    client_id = re.search(r'id="client-id">([^<]+)<', page).group(1)
    app = OidcApplication.objects.get(client_id=client_id)
    assert app.client_secret != secret and app.client_secret.startswith("argon2")  # only a hash is kept
    assert app.redirect_uris == "https://gjj.nc.example.cn/oidc/callback http://127.0.0.1:9000/cb"
    assert app.allowed_scopes == "openid profile phone"
    assert app.algorithm == "RS256" and app.department == mini.market_nanchang
    assert app.backchannel_logout_uri == "https://gjj.nc.example.cn/oidc/logout"
    assert AuditEvent.objects.filter(action="application.create", object_id=str(app.public_id)).count() == 1
    listing = html(browser.get("/console/identity/apps"))
    assert "南昌公积金网上服务" in listing and secret not in listing
    assert secret not in html(browser.get(f"/console/identity/apps/{app.public_id}"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"scopes": ["openid", "id_number"]}, "必须填写用途和依据"),
        ({"redirect_uris": ""}, "至少填写一个回调地址"),
        ({"redirect_uris": "http://gjj.nc.example.cn/cb"}, "必须使用 https"),
        ({"redirect_uris": "https://gjj.nc.example.cn/cb#x"}, "不能带“#”片段"),
        ({"scopes": ["profile"]}, "必须包含“登录身份标识”"),
        ({"scopes": ["openid", "messages"]}, "只用于部门系统"),
        ({"grant_type": "client-credentials", "client_type": "public", "scopes": ["messages"]}, "只能用于机密客户端"),
        ({"department": "123"}, "没有统一社会信用代码"),
    ],
)
def test_application_rules(operator, overrides, message):
    response = signed_in(operator).post("/console/identity/apps/new", app_form(**overrides))
    assert response.status_code in (400, 409, 422)
    assert message in html(response)
    assert not OidcApplication.objects.exists()


def test_the_id_number_scope_needs_a_reason_and_keeps_it(operator):
    response = signed_in(operator).post(
        "/console/identity/apps/new", app_form(scopes=["openid", "id_number"], id_number_reason="《社会保险法》第五十八条：参保登记核验")
    )
    assert response.status_code == 200
    app = OidcApplication.objects.get()
    assert app.allowed_scopes == "openid id_number" and app.id_number_reason.startswith("《社会保险法》")


def test_edit_and_disable_an_application(mini, operator, client):
    out = io.StringIO()
    call_command("oidc_client", "create", "--name", "部门系统", "--client-credentials", "--scopes", "messages", stdout=out)
    keys = json.loads(out.getvalue())
    app = OidcApplication.objects.get(client_id=keys["client_id"])
    browser = signed_in(operator)
    page = browser.get(f"/console/identity/apps/{app.public_id}")
    assert page.status_code == 200 and 'name="grant_type"' not in html(page)  # the grant stays as registered
    data = app_form(name="部门系统（更名）", redirect_uris="", scopes=["messages"], backchannel_logout_uri="", post_logout_redirect_uris="")
    assert browser.post(f"/console/identity/apps/{app.public_id}", data).status_code == 302
    app.refresh_from_db()
    assert app.name == "部门系统（更名）" and app.authorization_grant_type == "client-credentials"
    token = client.post(
        "/o/token/",
        {"grant_type": "client_credentials", "scope": "messages"},
        HTTP_AUTHORIZATION=basic(keys["client_id"], keys["client_secret"]),
    )
    assert token.status_code == 200
    assert browser.post(f"/console/identity/apps/{app.public_id}/disable", {"reason": ""}).status_code == 302
    app.refresh_from_db()
    assert not applications.is_disabled(app)  # a reason is required
    assert browser.post(f"/console/identity/apps/{app.public_id}/disable", {"reason": "系统下线"}).status_code == 302
    app.refresh_from_db()
    assert applications.is_disabled(app)
    from oauth2_provider.models import AccessToken

    assert not AccessToken.objects.filter(application=app).exists()  # revoked
    refused = client.post(
        "/o/token/",
        {"grant_type": "client_credentials", "scope": "messages"},
        HTTP_AUTHORIZATION=basic(keys["client_id"], keys["client_secret"]),
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"
    assert "已停用" in html(browser.get("/console/identity/apps"))
    # A new secret replaces the old one at once.
    response = browser.post(f"/console/identity/apps/{app.public_id}/secret")
    new_secret = re.search(r'id="client-secret">([^<]+)<', html(response)).group(1)
    app.refresh_from_db()
    assert app.client_secret != new_secret and new_secret != keys["client_secret"]


def test_the_command_prints_credentials_that_the_token_endpoint_accepts(mini, client):
    api_client, _keys = identity.api_client_create(actor=None, name="东湖公安审批系统", department=mini.police_donghu)
    out = io.StringIO()
    call_command(
        "oidc_client",
        "create",
        "--name",
        "东湖公安审批系统（客户端凭证）",
        "--client-credentials",
        "--api-client",
        "东湖公安审批系统",
        "--department",
        mini.police_donghu.credit_code,
        stdout=out,
    )
    printed = json.loads(out.getvalue())
    assert set(printed) == {"client_id", "client_secret"}
    app = OidcApplication.objects.get(client_id=printed["client_id"])
    assert app.allowed_scopes == "messages" and app.department == mini.police_donghu
    api_client.refresh_from_db()
    assert api_client.application == app
    response = client.post(
        "/o/token/",
        {"grant_type": "client_credentials", "scope": "messages"},
        HTTP_AUTHORIZATION=basic(printed["client_id"], printed["client_secret"]),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "messages" and body["access_token"]
    wrong = client.post(
        "/o/token/", {"grant_type": "client_credentials", "scope": "messages"}, HTTP_AUTHORIZATION=basic(printed["client_id"], "wrong")
    )
    assert wrong.status_code == 401
    beyond = client.post(
        "/o/token/",
        {"grant_type": "client_credentials", "scope": "openid"},
        HTTP_AUTHORIZATION=basic(printed["client_id"], printed["client_secret"]),
    )
    assert beyond.status_code == 400 and beyond.json()["error"] == "invalid_scope"


def test_the_command_for_a_sign_in_application(mini):
    out = io.StringIO()
    call_command(
        "oidc_client",
        "create",
        "--name",
        "上饶掌上办",
        "--redirect-uri",
        "https://app.sr.example.cn/cb",
        "--post-logout-redirect-uri",
        "https://app.sr.example.cn/",
        "--backchannel-logout-uri",
        "https://app.sr.example.cn/bc",
        "--scopes",
        "openid profile phone",
        stdout=out,
    )
    printed = json.loads(out.getvalue())
    app = OidcApplication.objects.get(client_id=printed["client_id"])
    assert app.authorization_grant_type == "authorization-code"
    assert check_password(printed["client_secret"], app.client_secret)
    assert app.redirect_uris == "https://app.sr.example.cn/cb" and app.backchannel_logout_uri == "https://app.sr.example.cn/bc"
    with pytest.raises(CommandError, match="已存在名为"):
        call_command("oidc_client", "create", "--name", "上饶掌上办", "--redirect-uri", "https://x.example.cn/cb", stdout=io.StringIO())
    with pytest.raises(CommandError, match="至少填写一个回调地址"):
        call_command("oidc_client", "create", "--name", "无回调", stdout=io.StringIO())
    with pytest.raises(CommandError, match="只能与 --client-credentials"):
        call_command("oidc_client", "create", "--name", "x", "--api-client", "y", stdout=io.StringIO())
    assert ApiClient.objects.count() == 0
