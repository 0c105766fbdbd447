"""Enterprises on the real database: the sandbox e-licence and legal-person base, the legal
representative's sign-in, managers (at most five), agents (full or precise), revocation that takes
effect at once (acting sessions fall back, OAuth tokens die), expiry, the acting identity and its
banner, notices, audit rows, and who may see which page."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from importlib import import_module

import pytest
from django.conf import settings
from django.contrib import auth
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import AccessToken
from stdnum.cn import ric

from tests.conftest import CITIZEN_PASSWORD
from tongban.common.codes import is_valid_uscc
from tongban.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tongban.common.models import AuditEvent
from tongban.identity import enterprises, legal_persons, sessions
from tongban.identity import services as identity
from tongban.identity.legal_persons import ElicenceRefused, ProviderUnavailable
from tongban.identity.models import Enterprise, LoginSession, Mandate, OidcApplication, TokenMandate
from tongban.messaging.models import InboxItem
from tongban.web.signin import SESSION_KEY

ENT_A = "91360102MA35GT0A1A"  # 江西赣通科技有限公司, legal representative 张晓明 (the `citizen` fixture)
ENT_B = "91360103MA38HC2B5U"  # 南昌洪城餐饮管理有限公司, legal representative 李红 (`other_citizen`)
ENT_C = "91361130MA39WY7C8U"  # 婺源徽韵茶业有限公司, legal representative 王建国 (nobody here)
COMPANY = "070700101000"  # 企业设立登记 in the `mini` catalogue
BIRTH = "070100001000"
PIN = "135790"


@pytest.fixture(autouse=True)
def _fast_sandboxes(settings, templates):
    """No latency, the fixed PIN, every cache counter (PINs, used assertions, rate limits) at zero,
    and the platform's message templates saved so notices can be sent."""
    settings.LEGAL_PERSON_SANDBOX_LATENCY_MS = 0
    settings.ELICENCE_SANDBOX_LATENCY_MS = 0
    settings.LEGAL_PERSON_SANDBOX_OUTAGE = False
    settings.ELICENCE_SANDBOX_OUTAGE = False
    settings.ELICENCE_SANDBOX_PIN = PIN
    cache.clear()
    yield
    cache.clear()


def person(n: int, name: str = ""):
    """The n-th extra citizen, real-name (a valid ID number) with mobile 1370000000n."""
    body = f"36010219900101{n:03d}"
    number = body + ric.calc_check_digit(body + "0")
    assert ric.is_valid(number), number
    return identity.citizen_account_upsert(
        actor=None,
        username=f"person{n}",
        password=CITIZEN_PASSWORD,
        display_name=name or f"员工{n}",
        mobile=f"137{n:08d}",
        id_number=number,
    )


def assertion_for(code: str) -> str:
    app = legal_persons.elicence_app()
    return app.confirm(app.start(code).token, PIN)


def legal_rep(account, code: str = ENT_A) -> Mandate:
    return enterprises.enterprise_login_as_legal_rep(account=account, credit_code=code, assertion=assertion_for(code))


def later(days: int) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)


def inbox_titles(account) -> list[str]:
    return list(InboxItem.objects.filter(account=account).order_by("id").values_list("title", flat=True))


def signed_in_client(account) -> Client:
    """A browser signed in as the portal signs people in: a Django session and its LoginSession.
    The session is written directly (not force_login), so no sign-in signal runs for a request
    without an address."""
    client = Client()
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[auth.SESSION_KEY] = str(account.pk)
    session[auth.BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[auth.HASH_SESSION_KEY] = account.get_session_auth_hash()
    session.create()
    login = sessions.session_start(account=account, session_key=session.session_key or "", method="password")
    session[SESSION_KEY] = str(login.public_id)
    session.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key or ""
    return client


def text(response) -> str:
    page = response.content.decode()
    assert "built-in method" not in page and "Undefined" not in page  # no template slip shows
    return page


# --- codes and the sandboxes -------------------------------------------------------------------


def test_sandbox_credit_codes_are_valid_and_a_wrong_check_character_is_not():
    for enterprise in legal_persons.SANDBOX_ENTERPRISES:
        assert is_valid_uscc(enterprise.credit_code)
        assert ric.is_valid(enterprise.legal_rep_id_number)
    assert not is_valid_uscc(ENT_A[:-1] + "B")
    assert not is_valid_uscc(ENT_A[:17])
    assert not is_valid_uscc("91360102MA35GT0I1A")  # I is not in the alphabet


def test_the_demo_citizen_is_a_legal_representative_in_the_sandbox_base():
    found = legal_persons.legal_person_base().check(ENT_A.lower())
    assert found is not None and found.legal_rep_name == "张晓明" and found.legal_rep_id_number == "11010519491231002X"
    assert legal_persons.legal_person_base().check("91360100MA3YN0K4XW") is None  # valid, not registered


@pytest.mark.django_db
def test_invalid_credit_code_is_refused(citizen):
    with pytest.raises(ValidationFailed) as refused:
        enterprises.enterprise_login_as_legal_rep(account=citizen, credit_code=ENT_A[:-1] + "B", assertion="x")
    assert refused.value.code == "invalid_credit_code"
    with pytest.raises(ElicenceRefused) as refused_app:
        legal_persons.elicence_app().start("123")
    assert refused_app.value.code == "invalid_credit_code"


def test_elicence_wrong_pin_counts_down_then_locks():
    app = legal_persons.elicence_app()
    challenge = app.start(ENT_A)
    for left in (4, 3, 2, 1):
        with pytest.raises(ElicenceRefused) as wrong:
            app.confirm(challenge.token, "000000")
        assert wrong.value.code == "elicence_wrong_pin" and wrong.value.details == {"left": left}
    with pytest.raises(ElicenceRefused) as locked:
        app.confirm(challenge.token, "000000")
    assert locked.value.code == "elicence_locked"
    with pytest.raises(ElicenceRefused) as still_locked:
        app.confirm(challenge.token, PIN)  # even the right PIN: this confirmation is spent
    assert still_locked.value.code == "elicence_locked"


def test_elicence_challenge_and_assertion_expire(monkeypatch, settings):
    app = legal_persons.elicence_app()
    challenge = app.start(ENT_A)
    assertion = app.confirm(challenge.token, PIN)
    now = legal_persons.time.time()
    monkeypatch.setattr(legal_persons.time, "time", lambda: now + settings.ELICENCE_CHALLENGE_SECONDS + 1)
    with pytest.raises(ElicenceRefused) as late_challenge:
        app.confirm(challenge.token, PIN)
    assert late_challenge.value.code == "elicence_expired"
    with pytest.raises(ElicenceRefused) as late_assertion:
        app.verify(assertion, credit_code=ENT_A)
    assert late_assertion.value.code == "elicence_expired"


def test_elicence_sandbox_outage_says_so(settings):
    settings.ELICENCE_SANDBOX_OUTAGE = True
    with pytest.raises(ProviderUnavailable) as down:
        legal_persons.elicence_app().start(ENT_A)
    assert down.value.status == 503 and "暂时无法连接" in down.value.message


# --- the legal representative's sign-in --------------------------------------------------------------


@pytest.mark.django_db
def test_legal_rep_sign_in_with_a_good_assertion_is_idempotent(citizen):
    mandate = legal_rep(citizen)
    assert (mandate.role, mandate.scope, mandate.grantee, mandate.valid_until) == ("legal_rep", "full", citizen, None)
    enterprise = Enterprise.objects.get(credit_code=ENT_A)
    assert enterprise.name == "江西赣通科技有限公司" and enterprise.legal_rep_name == "张晓明"
    assert enterprise.legal_rep_id_index == citizen.id_number_index and enterprise.verified_at is not None
    again = legal_rep(citizen)
    assert again.pk == mandate.pk
    assert Mandate.objects.filter(enterprise=enterprise).count() == 1
    assert AuditEvent.objects.filter(action="mandate.grant", object_id=str(mandate.public_id)).count() == 1
    assert AuditEvent.objects.filter(action="enterprise.legal_rep_sign_in", object_id=ENT_A).count() == 2
    assert inbox_titles(citizen) == ["账户安全提醒：江西赣通科技有限公司确认您为法定代表人"]


@pytest.mark.django_db
def test_legal_rep_sign_in_refuses_a_bad_assertion(citizen):
    good = assertion_for(ENT_A)
    body, _, mac = good.partition(".")
    forged = body + "." + ("A" if mac[0] != "A" else "B") + mac[1:]
    for bad, code in [(forged, "elicence_invalid"), ("not-an-assertion", "elicence_invalid"), (assertion_for(ENT_B), "elicence_mismatch")]:
        with pytest.raises(ElicenceRefused) as refused:
            enterprises.enterprise_login_as_legal_rep(account=citizen, credit_code=ENT_A, assertion=bad)
        assert refused.value.code == code
    enterprises.enterprise_login_as_legal_rep(account=citizen, credit_code=ENT_A, assertion=good)
    with pytest.raises(ElicenceRefused) as replayed:
        enterprises.enterprise_login_as_legal_rep(account=citizen, credit_code=ENT_A, assertion=good)
    assert replayed.value.code == "elicence_used"


@pytest.mark.django_db
def test_legal_rep_sign_in_refuses_someone_who_is_not_the_legal_rep(citizen, other_citizen):
    with pytest.raises(PermissionDenied) as refused:
        legal_rep(citizen, ENT_C)  # 王建国's company
    assert refused.value.code == "not_legal_rep"
    with pytest.raises(PermissionDenied):
        legal_rep(other_citizen, ENT_A)  # 李红 is not 张晓明
    assert not Enterprise.objects.exists() and not Mandate.objects.exists()


@pytest.mark.django_db
def test_a_new_legal_rep_in_the_base_ends_the_former_ones_mandate(citizen, other_citizen):
    enterprise = Enterprise.objects.create(
        credit_code=ENT_B, name="旧名称", legal_rep_name="张晓明", legal_rep_id_index=citizen.id_number_index
    )
    former = Mandate.objects.create(enterprise=enterprise, grantee=citizen, role="legal_rep", valid_from=later(-30))
    mandate = legal_rep(other_citizen, ENT_B)
    former.refresh_from_db()
    assert former.revoked_at is not None and former.revoked_by is None and "法定代表人已变更" in former.revoke_reason
    assert mandate.grantee == other_citizen
    enterprise.refresh_from_db()
    assert enterprise.name == "南昌洪城餐饮管理有限公司" and enterprise.legal_rep_id_index == other_citizen.id_number_index
    assert any("已解除您的法定代表人身份" in title for title in inbox_titles(citizen))


@pytest.mark.django_db
def test_legal_person_base_outage_is_said_kindly(citizen, settings):
    assertion = assertion_for(ENT_A)
    settings.LEGAL_PERSON_SANDBOX_OUTAGE = True
    with pytest.raises(ProviderUnavailable) as down:
        enterprises.enterprise_login_as_legal_rep(account=citizen, credit_code=ENT_A, assertion=assertion)
    assert "法人库暂时无法查询" in down.value.message
    assert not Mandate.objects.exists()


# --- managers -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_at_most_five_managers(citizen):
    enterprise = legal_rep(citizen).enterprise
    people = [person(n) for n in range(1, 7)]
    managers = [enterprises.manager_appoint(actor=citizen, enterprise=enterprise, grantee_mobile=p.mobile) for p in people[:5]]
    assert [m.role for m in managers] == ["manager"] * 5
    sixth = people[5]
    with pytest.raises(Conflict) as full:
        enterprises.manager_appoint(actor=citizen, enterprise=enterprise, grantee=sixth)
    assert full.value.code == "managers_full" and "最多设置 5 名管理员" in full.value.message
    with pytest.raises(Conflict) as twice:
        enterprises.manager_appoint(actor=citizen, enterprise=enterprise, grantee=managers[0].grantee)
    assert twice.value.code == "already_manager"
    enterprises.mandate_revoke(actor=citizen, mandate=managers[0], reason="岗位调整")
    assert enterprises.manager_appoint(actor=citizen, enterprise=enterprise, grantee=sixth).role == "manager"


@pytest.mark.django_db
def test_appointing_by_mobile_needs_a_registered_real_name_person(citizen):
    enterprise = legal_rep(citizen).enterprise
    for mobile, code in [("12345", "invalid_mobile"), ("13799999999", "grantee_not_found")]:
        with pytest.raises((ValidationFailed, NotFound)) as refused:
            enterprises.manager_appoint(actor=citizen, enterprise=enterprise, grantee_mobile=mobile)
        assert refused.value.code == code
    unverified = identity.citizen_account_upsert(
        actor=None, username="nobody", password=CITIZEN_PASSWORD, display_name="无名", mobile="13600000000"
    )
    with pytest.raises(ValidationFailed) as refused_unverified:
        enterprises.manager_appoint(actor=citizen, enterprise=enterprise, grantee=unverified)
    assert refused_unverified.value.code == "grantee_not_verified"
    with pytest.raises(ValidationFailed):
        enterprises.manager_appoint(actor=citizen, enterprise=enterprise, grantee=citizen)


# --- agents ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_precise_authorisation_needs_known_items_and_an_end(citizen, mini):
    enterprise = legal_rep(citizen).enterprise
    agent = person(1)
    cases = [
        ({"items": []}, "items_required"),
        ({"items": [COMPANY]}, "end_required"),
        ({"items": ["ABC"], "valid_until": later(30)}, "invalid_items"),
        ({"items": [COMPANY, "999999999999"], "valid_until": later(30)}, "unknown_items"),
        ({"items": [COMPANY], "valid_until": later(-1)}, "invalid_period"),
    ]
    for fields, code in cases:
        with pytest.raises(ValidationFailed) as refused:
            enterprises.agent_authorise(actor=citizen, enterprise=enterprise, grantee=agent, scope="precise", **fields)
        assert refused.value.code == code, fields
    with pytest.raises(ValidationFailed):
        enterprises.agent_authorise(actor=citizen, enterprise=enterprise, grantee=agent, scope="everything")
    mandate = enterprises.agent_authorise(
        actor=citizen,
        enterprise=enterprise,
        grantee=agent,
        scope="precise",
        items=f" {COMPANY.lower()}, {BIRTH}\n{COMPANY}",
        valid_until=later(30),
    )
    assert (mandate.role, mandate.scope, mandate.items) == ("agent", "precise", [COMPANY, BIRTH])
    with pytest.raises(Conflict) as twice:
        enterprises.agent_authorise(actor=citizen, enterprise=enterprise, grantee=agent, scope="full")
    assert twice.value.code == "already_agent"


@pytest.mark.django_db
def test_full_authorisation_may_be_open_ended_and_ignores_items(citizen, mini):
    enterprise = legal_rep(citizen).enterprise
    mandate = enterprises.agent_authorise(actor=citizen, enterprise=enterprise, grantee=person(1), scope="full", items=["whatever"])
    assert (mandate.scope, mandate.items, mandate.valid_until) == ("full", [], None)


@pytest.mark.django_db
def test_mandate_allows_reads_scope_items_period_and_revocation(citizen, other_citizen, mini):
    enterprise = legal_rep(citizen).enterprise
    full, precise = person(1), person(2)
    enterprises.agent_authorise(actor=citizen, enterprise=enterprise, grantee=full, scope="full")
    starts = later(2)
    narrow = enterprises.agent_authorise(
        actor=citizen, enterprise=enterprise, grantee=precise, scope="precise", items=[COMPANY], valid_from=starts, valid_until=later(30)
    )
    assert enterprises.mandate_allows(full, ENT_A, BIRTH) and enterprises.mandate_allows(citizen, ENT_A.lower(), BIRTH)
    assert not enterprises.mandate_allows(precise, ENT_A, COMPANY)  # not started yet
    moment = later(3)
    assert enterprises.mandate_allows(precise, ENT_A, COMPANY, at=moment)
    assert enterprises.mandate_allows(precise, ENT_A, "913601007654321001" + "3" + COMPANY, at=moment)  # an implementation code
    assert not enterprises.mandate_allows(precise, ENT_A, BIRTH, at=moment)
    assert not enterprises.mandate_allows(precise, ENT_A, COMPANY, at=later(31))
    assert not enterprises.mandate_allows(full, ENT_B, BIRTH)
    assert not enterprises.mandate_allows(other_citizen, ENT_A, BIRTH)
    enterprises.mandate_revoke(actor=citizen, mandate=narrow, reason="不再负责")
    assert not enterprises.mandate_allows(precise, ENT_A, COMPANY, at=moment)
    revoked_at = Mandate.objects.get(pk=narrow.pk).revoked_at
    assert revoked_at is not None
    # What was allowed before the revocation stays answerable (a case submitted back then).
    Mandate.objects.filter(pk=narrow.pk).update(valid_from=later(-10))
    assert enterprises.mandate_allows(precise, ENT_A, COMPANY, at=later(-1))


@pytest.mark.django_db
def test_expired_mandates_are_not_live(citizen, mini):
    enterprise = legal_rep(citizen).enterprise
    agent = person(1)
    mandate = enterprises.agent_authorise(
        actor=citizen, enterprise=enterprise, grantee=agent, scope="precise", items=[COMPANY], valid_until=later(5)
    )
    assert [m.pk for m in enterprises.mandates_of(agent)] == [mandate.pk]
    Mandate.objects.filter(pk=mandate.pk).update(valid_from=later(-10), valid_until=later(-1))
    mandate.refresh_from_db()
    assert not enterprises.mandate_is_live(mandate)
    assert not enterprises.mandate_allows(agent, ENT_A, COMPANY)
    assert enterprises.mandates_of(agent) == []
    login = LoginSession.objects.create(account=agent, session_key="k", method="password", acting_mandate=mandate)
    assert sessions.acting_mandate(login) is None  # an acting session falls back to the person
    with pytest.raises(PermissionDenied):
        enterprises.acting_switch(login_session=login, mandate=mandate)
    # Expired, so the person may be authorised again.
    assert enterprises.agent_authorise(actor=citizen, enterprise=enterprise, grantee=agent, scope="full").scope == "full"


# --- who may do what ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_permissions(citizen, other_citizen, mini):
    a = legal_rep(citizen).enterprise
    b = legal_rep(other_citizen, ENT_B).enterprise
    manager_a = enterprises.manager_appoint(actor=citizen, enterprise=a, grantee=person(1)).grantee
    manager_b = enterprises.manager_appoint(actor=other_citizen, enterprise=b, grantee=person(2)).grantee
    agent_mandate = enterprises.agent_authorise(actor=manager_a, enterprise=a, grantee=person(3), scope="full")
    agent = agent_mandate.grantee
    assert agent_mandate.granted_by == manager_a  # a manager authorises agents
    # An agent can neither appoint nor authorise.
    with pytest.raises(PermissionDenied):
        enterprises.manager_appoint(actor=agent, enterprise=a, grantee=person(4))
    with pytest.raises(PermissionDenied):
        enterprises.agent_authorise(actor=agent, enterprise=a, grantee=person(4), scope="full")
    # A manager does not appoint managers.
    with pytest.raises(PermissionDenied) as refused:
        enterprises.manager_appoint(actor=manager_a, enterprise=a, grantee=person(4))
    assert refused.value.code == "not_legal_rep"
    # Another enterprise's manager and legal representative cannot revoke here.
    for outsider in (manager_b, other_citizen):
        with pytest.raises(PermissionDenied):
            enterprises.mandate_revoke(actor=outsider, mandate=agent_mandate, reason="越权")
    # A manager cannot revoke a manager; nobody revokes the legal representative here.
    manager_a_mandate = Mandate.objects.get(grantee=manager_a, role="manager")
    with pytest.raises(PermissionDenied):
        enterprises.mandate_revoke(actor=manager_a, mandate=manager_a_mandate, reason="自己")
    with pytest.raises(PermissionDenied):
        enterprises.mandate_revoke(actor=citizen, mandate=Mandate.objects.get(grantee=citizen, role="legal_rep"), reason="x")
    with pytest.raises(ValidationFailed):
        enterprises.mandate_revoke(actor=manager_a, mandate=agent_mandate, reason="  ")
    assert Mandate.objects.get(pk=agent_mandate.pk).revoked_at is None
    enterprises.mandate_revoke(actor=manager_a, mandate=agent_mandate, reason="已离职")
    assert Mandate.objects.get(pk=agent_mandate.pk).revoke_reason == "已离职"


@pytest.mark.django_db
def test_notices_and_audit_rows_follow_every_change(citizen, mini):
    enterprise = legal_rep(citizen).enterprise
    manager = enterprises.manager_appoint(actor=citizen, enterprise=enterprise, grantee=person(1))
    agent = enterprises.agent_authorise(
        actor=citizen, enterprise=enterprise, grantee=person(2), scope="precise", items=[COMPANY], valid_until=later(9)
    )
    enterprises.mandate_revoke(actor=citizen, mandate=manager, reason="岗位调整")
    assert inbox_titles(manager.grantee) == [
        "账户安全提醒：江西赣通科技有限公司授权您为管理员",
        "账户安全提醒：江西赣通科技有限公司撤销了您的管理员授权",
    ]
    assert inbox_titles(agent.grantee) == ["账户安全提醒：江西赣通科技有限公司授权您为经办人"]
    grants = AuditEvent.objects.filter(action="mandate.grant").order_by("id")
    assert [(e.after["role"], e.actor_id) for e in grants] == [("legal_rep", citizen.pk), ("manager", citizen.pk), ("agent", citizen.pk)]
    assert grants[2].after["items"] == [COMPANY] and grants[2].after["scope"] == "precise"
    revoke = AuditEvent.objects.get(action="mandate.revoke")
    assert (revoke.object_id, revoke.reason, revoke.actor_id) == (str(manager.public_id), "岗位调整", citizen.pk)


# --- revocation takes effect at once -------------------------------------------------------------


def oauth_token_while_acting(login: LoginSession) -> tuple[AccessToken, str]:
    """An access token issued to an application this session signed into, recorded (as the OIDC
    validator does) against the mandate the session acts under."""
    app = OidcApplication.objects.create(
        name="企业年报系统",
        client_type=OidcApplication.CLIENT_CONFIDENTIAL,
        authorization_grant_type=OidcApplication.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://nianbao.example.cn/callback",
        algorithm=OidcApplication.RS256_ALGORITHM,
        allowed_scopes="openid profile enterprise",
    )
    sessions.app_signed_in(login=login, application=app)
    raw = "tok-" + hashlib.sha256(str(login.pk).encode()).hexdigest()[:32]
    token = AccessToken.objects.create(user=login.account, application=app, token=raw, expires=later(1), scope="openid enterprise")
    sessions.token_issued(access_token=raw, user=login.account, application=app)
    return token, raw


@pytest.mark.django_db
def test_revocation_takes_effect_at_once(citizen, mini):
    enterprise = legal_rep(citizen).enterprise
    agent = person(1, "王小二")
    mandate = enterprises.agent_authorise(actor=citizen, enterprise=enterprise, grantee=agent, scope="full")
    browser = signed_in_client(agent)
    assert browser.post("/my/enterprises/acting/", {"mandate": str(mandate.public_id)}).status_code == 302
    login = LoginSession.objects.get(account=agent, ended_at=None)
    assert login.acting_mandate_id == mandate.pk
    assert "当前身份：<strong>江西赣通科技有限公司</strong>（经办人）" in text(browser.get("/"))
    token, raw = oauth_token_while_acting(login)
    assert TokenMandate.objects.filter(mandate=mandate, token_checksum=hashlib.sha256(raw.encode()).hexdigest()).exists()
    assert token.is_valid()
    info = browser.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert info.status_code == 200 and info.json()["act"]["enterprise"] == ENT_A

    owner = signed_in_client(citizen)
    response = owner.post(f"/enterprise/{ENT_A}/mandates/{mandate.public_id}/revoke/", {"reason": "已离职"})
    assert response.status_code == 302

    login.refresh_from_db()
    assert login.acting_mandate_id is None  # the session falls back to the person
    page = text(browser.get("/"))
    assert "当前身份" not in page
    assert not AccessToken.objects.filter(pk=token.pk).exists()  # django-oauth-toolkit revokes by deleting
    assert not AccessToken.objects.filter(token_checksum=hashlib.sha256(raw.encode()).hexdigest()).exists()
    assert Client().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    revoke = AuditEvent.objects.get(action="mandate.revoke")
    assert revoke.after["sessions"] == 1 and revoke.after["tokens"] == 1 and revoke.reason == "已离职"
    assert not enterprises.mandate_allows(agent, ENT_A, COMPANY)


# --- acting identity --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_switching_the_acting_identity_and_back(citizen, other_citizen, mini):
    mandate = legal_rep(citizen)
    other = legal_rep(other_citizen, ENT_B)
    browser = signed_in_client(citizen)
    page = text(browser.get("/my/enterprises/"))
    assert "江西赣通科技有限公司" in page and "法定代表人" in page and "以此身份办事" in page and "南昌洪城" not in page
    assert browser.post("/my/enterprises/acting/", {"mandate": str(mandate.public_id)}).status_code == 302
    page = text(browser.get("/my/enterprises/"))
    assert "正在以此身份办事" in page and "切换回个人" in page
    assert "当前身份：<strong>江西赣通科技有限公司</strong>（法定代表人）" in text(browser.get("/services"))
    # Someone else's mandate, or nonsense, is refused and changes nothing.
    assert browser.post("/my/enterprises/acting/", {"mandate": str(other.public_id)}).status_code == 404
    assert browser.post("/my/enterprises/acting/", {"mandate": "nonsense"}).status_code == 404
    assert LoginSession.objects.get(account=citizen, ended_at=None).acting_mandate_id == mandate.pk
    response = browser.post("/my/enterprises/acting/", {"mandate": "personal", "next": "/services"})
    assert response.status_code == 302 and response["Location"] == "/services"
    assert LoginSession.objects.get(account=citizen, ended_at=None).acting_mandate_id is None
    assert "当前身份" not in text(browser.get("/services"))
    switches = AuditEvent.objects.filter(action="identity.acting_switch").order_by("id")
    assert [e.after["mandate"] for e in switches] == [str(mandate.public_id), None]
    assert switches[0].after["enterprise"] == ENT_A


@pytest.mark.django_db
def test_the_banner_costs_no_query_for_visitors_and_one_for_citizens(citizen, mini):
    def login_session_queries(client: Client) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/services").status_code == 200
        # The banner's read: the sign-in row with its acting mandate (other checks may only ask
        # whether the sign-in still stands).
        return sum('"identity_loginsession"."acting_mandate_id"' in q["sql"] for q in queries.captured_queries)

    assert login_session_queries(Client()) == 0
    assert login_session_queries(signed_in_client(citizen)) == 1


# --- pages ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_management_pages_are_only_for_the_legal_rep_and_managers(citizen, other_citizen, mini):
    enterprise = legal_rep(citizen).enterprise
    manager = enterprises.manager_appoint(actor=citizen, enterprise=enterprise, grantee=person(1)).grantee
    agent = enterprises.agent_authorise(actor=citizen, enterprise=enterprise, grantee=person(2), scope="full").grantee
    page = f"/enterprise/{ENT_A}/"
    anonymous = Client().get(page)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    for outsider in (other_citizen, agent):
        browser = signed_in_client(outsider)
        missing = browser.get(page)
        assert missing.status_code == 404 and "江西赣通" not in text(missing)
        assert browser.post(page + "managers/", {"mobile": "13700000009"}).status_code == 404
        assert browser.post(page + "agents/", {"mobile": "13700000009", "scope": "full"}).status_code == 404
    browser = signed_in_client(citizen)
    assert browser.get("/enterprise/91360100MA3YN0K4XW/").status_code == 404
    assert browser.get("/enterprise/nonsense/").status_code == 404
    owner_page = text(browser.get(page))
    assert "设置管理员" in owner_page and "授权经办人" in owner_page and "员*" in owner_page and "137****0001" in owner_page
    browser = signed_in_client(manager)
    manager_page = browser.get(page)
    assert manager_page.status_code == 200
    assert "设置管理员" not in text(manager_page) and "授权经办人" in text(manager_page)


@pytest.mark.django_db
def test_appoint_authorise_and_revoke_through_the_page(citizen, mini):
    legal_rep(citizen)
    person(1)
    agent = person(2)
    browser = signed_in_client(citizen)
    page = f"/enterprise/{ENT_A}/"
    bad = browser.post(page + "managers/", {"mobile": "1370000"})
    assert bad.status_code == 422 and "手机号码格式不正确" in text(bad) and 'value="1370000"' in text(bad)
    assert browser.post(page + "managers/", {"mobile": "13700000001"}).status_code == 302
    assert Mandate.objects.filter(role="manager", grantee__username="person1", revoked_at=None).exists()

    wrong_mobile = text(browser.post(page + "agents/", {"mobile": "123", "scope": "full"}))
    assert "手机号码格式不正确" in wrong_mobile and 'href="#items"' not in wrong_mobile and 'id="items-error"' not in wrong_mobile
    missing = browser.post(page + "agents/", {"mobile": "13700000002", "scope": "precise", "items": "", "valid_until": ""})
    assert missing.status_code == 422 and "精准授权至少要选择一个事项" in text(missing) and 'id="items-error"' in text(missing)
    no_end = browser.post(page + "agents/", {"mobile": "13700000002", "scope": "precise", "items": COMPANY, "valid_until": ""})
    assert no_end.status_code == 422 and "精准授权必须写明截止日期" in text(no_end) and COMPANY in text(no_end)
    bad_date = browser.post(page + "agents/", {"mobile": "13700000002", "scope": "precise", "items": COMPANY, "valid_until": "2026-13-01"})
    assert bad_date.status_code == 400 and "截止日期格式不正确" in text(bad_date)
    last_day = timezone.localdate() + dt.timedelta(days=30)
    done = browser.post(
        page + "agents/", {"mobile": "13700000002", "scope": "precise", "items": COMPANY, "valid_until": last_day.isoformat()}
    )
    assert done.status_code == 302
    mandate = Mandate.objects.get(grantee=agent, role="agent")
    assert mandate.items == [COMPANY]
    assert timezone.localtime(mandate.valid_until).date() == last_day + dt.timedelta(days=1)  # through the whole last day
    listed = text(browser.get(page))
    assert "企业设立登记（有限责任公司）" in listed and f"至 {last_day.year}年{last_day.month}月{last_day.day}日" in listed

    no_reason = browser.post(page + f"mandates/{mandate.public_id}/revoke/", {"reason": ""})
    assert no_reason.status_code == 422 and "请填写撤销原因" in text(no_reason)
    assert browser.post(page + f"mandates/{mandate.public_id}/revoke/", {"reason": "项目结束"}).status_code == 302
    assert Mandate.objects.get(pk=mandate.pk).revoked_at is not None
    assert "项目结束" in text(browser.get(page))  # in the recently ended list
    assert browser.post(page + "mandates/00000000-0000-0000-0000-000000000000/revoke/", {"reason": "x"}).status_code == 404


@pytest.mark.django_db
def test_elicence_sign_in_page_end_to_end(citizen, mini, settings):
    browser = signed_in_client(citizen)
    first = browser.get("/enterprise/login/")
    assert first.status_code == 200 and "统一社会信用代码" in text(first)
    bad = browser.post("/enterprise/login/", {"action": "start", "credit_code": ENT_A[:-1] + "B"})
    assert bad.status_code == 400 and "校验未通过" in text(bad)
    unknown = browser.post("/enterprise/login/", {"action": "start", "credit_code": "91360100MA3YN0K4XW"})
    assert unknown.status_code == 403 and "尚未领取电子营业执照" in text(unknown)
    step2 = browser.post("/enterprise/login/", {"action": "start", "credit_code": ENT_A.lower()})
    assert (
        step2.status_code == 200
        and "第 2 步，共 2 步" in text(step2)
        and f'测试用 PIN 码：<strong class="code">{PIN}</strong>' in text(step2)
    )
    wrong = browser.post("/enterprise/login/", {"action": "confirm", "pin": "111111"})
    assert wrong.status_code == 403 and "还可以再试 4 次" in text(wrong)
    done = browser.post("/enterprise/login/", {"action": "confirm", "pin": PIN})
    assert done.status_code == 302 and done["Location"] == f"/enterprise/{ENT_A}/"
    mandate = Mandate.objects.get(grantee=citizen, role="legal_rep")
    assert LoginSession.objects.get(account=citizen, ended_at=None).acting_mandate_id == mandate.pk
    landed = text(browser.get(done["Location"]))
    assert "已以法定代表人身份登录" in landed and "当前身份：<strong>江西赣通科技有限公司</strong>（法定代表人）" in landed
    # The confirmation is used up.
    again = browser.post("/enterprise/login/", {"action": "confirm", "pin": PIN})
    assert again.status_code == 400 and "请重新输入统一社会信用代码" in text(again)
    # Someone who is not the legal representative is told so.
    settings.ELICENCE_SANDBOX_OUTAGE = False
    browser.post("/enterprise/login/", {"action": "start", "credit_code": ENT_C})
    refused = browser.post("/enterprise/login/", {"action": "confirm", "pin": PIN})
    assert refused.status_code == 403 and "不是您本人" in text(refused)
    # And an outage is said kindly.
    settings.ELICENCE_SANDBOX_OUTAGE = True
    down = browser.post("/enterprise/login/", {"action": "start", "credit_code": ENT_A})
    assert down.status_code == 503 and "暂时无法连接" in text(down)


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_sign_in(mini):
    client = Client()
    for method, path in [
        ("get", "/my/enterprises/"),
        ("post", "/my/enterprises/acting/"),
        ("get", "/enterprise/login/"),
        ("post", "/enterprise/login/"),
        ("post", f"/enterprise/{ENT_A}/agents/"),
    ]:
        response = getattr(client, method)(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), (method, path)


def test_no_inline_script_or_style_in_the_enterprise_templates():
    from pathlib import Path

    folder = Path(enterprises.__file__).resolve().parent.parent / "web" / "jinja2" / "portal"
    for name in ("enterprises.html", "enterprise.html", "enterprise_login.html"):
        source = (folder / name).read_text()
        assert not re.search(r"<script|<style|\sstyle=|\son[a-z]+=", source), name
