"""The demo province meets the 2019 targets of 000_e7053c411a922737.txt, loads twice to the same state,
and its data is internally valid (codes, guides)."""

from __future__ import annotations

import pytest
from django.db.models import Count
from stdnum.cn import uscc

from tongban.catalog.models import BaseItem, Implementation, Zone
from tongban.common.models import AuditEvent
from tongban.demo.loader import ALL_ITEMS, load_demo
from tongban.org.models import Department, Division, Hall
from tongban.search import selectors as search

REQUIRED = [
    "出生医学证明办理",
    "出生登记（落户）",
    "新生儿医保参保登记",
    "社会保障卡申领",
    "义务教育入学（小学一年级）",
    "居民身份证换领",
    "机动车驾驶证换证",
    "机动车注册登记（新车上牌）",
    "二手房转移登记（存量房买卖）",
    "不动产抵押登记",
    "低压居民用电报装",
    "结婚登记（内地居民）",
    "住房公积金提取（购房）",
    "职工退休申请（基本养老金申领）",
    "个体工商户设立登记",
    "企业设立登记（有限责任公司）",
    "食品经营许可",
    "企业注销登记",
]


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        summary = load_demo()
        audit_rows = AuditEvent.objects.count()
        again = load_demo()
        yield {"first": summary, "second": again, "audit_after_first": audit_rows, "audit_after_second": AuditEvent.objects.count()}
        from django.core.management import call_command

        call_command("flush", interactive=False, verbosity=0)


@pytest.mark.django_db
def test_divisions_are_jiangxi(demo):
    assert Division.objects.filter(level=3).count() == 11
    assert Division.objects.filter(level=4).count() == 100
    assert Division.objects.get(code="360781").name == "瑞金市"
    assert Division.objects.get(code="360781").parent.name == "赣州市"
    assert Division.objects.filter(level__in=[5, 6]).exists()
    assert Hall.objects.filter(kind="main").count() == 1
    assert Hall.objects.filter(kind="branch").count() == 111


@pytest.mark.django_db
def test_catalogue_targets(demo):
    published = Implementation.objects.filter(status="published", base__status="published")
    assert BaseItem.objects.filter(status="published").count() >= 80
    assert set(REQUIRED) <= set(BaseItem.objects.values_list("name", flat=True))
    assert published.count() >= 500
    per_city = dict(published.filter(level=3).values_list("division__code").annotate(n=Count("id")))
    assert len(per_city) == 11 and min(per_city.values()) >= 50
    per_county = dict(published.filter(level=4).values_list("division__code").annotate(n=Count("id")))
    assert len(per_county) == 100 and min(per_county.values()) >= 20


@pytest.mark.django_db
def test_every_guide_is_complete_and_every_code_valid(demo):
    for item in BaseItem.objects.prefetch_related("materials", "steps", "faqs"):
        assert len(item.code) == 12
        assert item.legal_basis and item.conditions and item.summary, item.name
        assert item.materials.count() >= 1 and item.steps.count() >= 2, item.name
        assert item.service_objects, item.name
    for department in Department.objects.all():
        assert uscc.is_valid(department.credit_code), department.name
    for impl in Implementation.objects.select_related("department", "base", "division").iterator(chunk_size=2000):
        assert impl.code == impl.department.credit_code + str(impl.level) + impl.base.code
        assert impl.place and impl.hours and impl.consult_channel and impl.complaint_channel
        assert impl.division_id == impl.department.division_id
        assert impl.level == impl.division.level
    assert len({raw["code"] for raw in ALL_ITEMS}) == len(ALL_ITEMS)


@pytest.mark.django_db
def test_loading_twice_changes_nothing(demo):
    assert demo["second"]["departments_created"] == 0
    assert demo["second"]["implementations_created"] == 0
    assert demo["audit_after_second"] == demo["audit_after_first"]


@pytest.mark.django_db
def test_zones_and_search_work_on_the_demo(demo):
    assert set(Zone.objects.values_list("kind", flat=True)) >= {"theme", "enterprise", "certificate_free", "no_visit", "department"}
    province = Division.objects.get(code="360000")
    donghu = Division.objects.get(code="360102")
    cases = {
        "上牌": "机动车注册登记（新车上牌）",
        "上户口": "出生登记（落户）",
        "换驾照": "机动车驾驶证换证",
        "开公司": "企业设立登记（有限责任公司）",
        "社会保障卡": "社会保障卡申领",
    }
    for query, expected in cases.items():
        names = [hit.item.name for hit in search.search_items(query, division=province).hits]
        assert names[0] == expected, (query, names[:5])
    assert "社会保障卡申领" in [hit.item.name for hit in search.search_items("社保", division=province).hits][:3]
    assert "出生登记（落户）" in [hit.item.name for hit in search.search_items("出生", division=province).hits][:3]
    hit = search.search_items("上户口", division=donghu).hits[0]
    assert hit.direct is not None and hit.direct.division == donghu


@pytest.mark.django_db
def test_the_demo_message_centre(demo):
    from tongban.identity.models import Account
    from tongban.identity.services import api_key_authenticate
    from tongban.messaging.models import InboxItem, Message, Template

    zhang = Account.objects.get(username="citizen.zhang")
    assert zhang.mobile == "13800138000" and zhang.check_password("Tongban-Demo-2026")
    assert InboxItem.objects.filter(account=zhang, message__reason__startswith="演示").count() == 3  # loaded twice, sent once
    assert Message.objects.filter(recipient__username="citizen.li").count() == 3
    assert Template.objects.filter(code__in=["account-otp", "case-progress", "donghu-police-done"]).count() == 3
    client = demo["first"]["api_client"]
    assert api_key_authenticate(client.live_key).client.name == client.name
    assert api_key_authenticate(client.test_key).kind == "test"
    assert demo["second"]["api_client"].live_key == client.live_key


@pytest.mark.django_db
def test_the_demo_identity(demo):
    import io

    import pyotp
    from django.contrib.auth.hashers import check_password
    from django.core.management import call_command
    from django.test import Client

    from tongban.identity import access, staff
    from tongban.identity.models import Account, OidcApplication, RealNameEvent, StaffRole

    printed = {a.username: a for a in demo["first"]["accounts"]}
    roles = {
        "operator": {("operator", None)},
        "clerk.donghu": {("window_clerk", "360102")},
        "police.donghu": {("window_clerk", "360102")},
        "admin.donghu": {("dept_admin", "360102")},
        "reviewer.nanchang": {("reviewer", "360100")},
        "approver.nanchang": {("approver", "360100")},
        "approver.hrss": {("reviewer", "360000"), ("approver", "360000")},
    }
    for username, expected in roles.items():
        account = Account.objects.get(username=username)
        held = {(r.role, r.department.division.code if r.department else None) for r in StaffRole.objects.filter(account=account)}
        assert held == expected, username
        assert staff.totp_enrolled(account) and staff.totp_unseal(account.totp_secret_sealed) == printed[username].totp, username
        assert account.check_password("Tongban-Demo-2026")
    assert not access.departments_for(Account.objects.get(username="police.donghu")).exclude(division__code="360102").exists()
    levels = dict(Account.objects.filter(username__startswith="citizen.").values_list("username", "real_name_level"))
    assert {levels[u] for u in ("citizen.wang", "citizen.zhao", "citizen.sun", "citizen.zhou")} == {1, 2, 3, 4}
    assert all(Account.objects.get(username=u).id_number for u in ("citizen.zhao", "citizen.sun", "citizen.zhou"))
    assert RealNameEvent.objects.filter(account__username="citizen.zhou").count() == 1  # loaded twice, recorded once
    app = OidcApplication.objects.get(client_id=demo["first"]["oidc_app"].client_id)
    assert app.name == "演示应用" and check_password(demo["first"]["oidc_app"].client_secret, app.client_secret)
    assert app.redirect_uris.startswith("http://127.0.0.1:8000/")
    # The printed secret signs the demo operator in through the console's form.
    client = Client()
    assert client.post("/console/login", {"username": "operator", "password": "Tongban-Demo-2026"}).url == "/console/login/code"
    assert client.post("/console/login/code", {"code": pyotp.TOTP(printed["operator"].totp).now()}).status_code == 302
    assert client.get("/console/").status_code == 200
    out = io.StringIO()
    call_command("demo", totp_code="clerk.donghu", stdout=out)
    assert out.getvalue().strip() == pyotp.TOTP(printed["clerk.donghu"].totp).now()


@pytest.mark.django_db
def test_the_demo_bundles_and_cases(demo):
    from tongban.cases.models import Case
    from tongban.catalog.models import Bundle

    assert set(Bundle.objects.values_list("code", flat=True)) == {"birth", "new-car", "second-hand-home", "enterprise-start"}
    assert Bundle.objects.get(code="birth").items.count() == 4
    birth = Case.objects.filter(
        applicant__username="citizen.zhang", implementation__base__code="070100001000", bundle_application__isnull=True
    )
    states = sorted(birth.values_list("state", flat=True))
    assert states == ["accepted", "accepted", "correcting", "submitted", "suspended"]  # loaded twice, made once
    overdue = birth.filter(state="accepted").order_by("due_legal").first()
    assert overdue.due_legal < overdue.updated_at.date()


@pytest.mark.django_db
def test_the_demo_has_cases_in_every_state_and_bundles_under_way(demo):
    from django.db.models import Count
    from django.utils import timezone

    from tongban.cases import machine
    from tongban.cases.clock import light
    from tongban.cases.forms import form_current, prefill_fields
    from tongban.cases.models import ApplicationForm, BundleApplication, Case, CorrectionNotice
    from tongban.cases.services import LOCAL

    assert set(Case.objects.values_list("state", flat=True)) == {s.value for s in machine.State}
    today = timezone.localdate(timezone.now(), LOCAL)
    lights = [light(c.due_legal, today, yellow_days=1) for c in Case.objects.filter(state__in=["accepted", "supplementing"])]
    assert lights.count("red") >= 2 and lights.count("yellow") >= 1
    assert Case.objects.values("department").distinct().count() >= 5
    per_citizen = dict(Case.objects.values_list("applicant__username").annotate(n=Count("id")))
    assert len(per_citizen) >= 4 and max(per_citizen, key=per_citizen.get) == "citizen.zhang"
    assert all(CorrectionNotice.objects.filter(case=c).count() == 1 for c in Case.objects.filter(state="correcting"))
    assert Case.objects.filter(state="suspended", events__special_step=4).exists()
    # Loaded twice, made once.
    assert BundleApplication.objects.count() == 2
    for application in BundleApplication.objects.all():
        parts = set(application.cases.values_list("state", flat=True))
        assert "concluded" in parts and parts & {"submitted", "accepted"}, parts
    assert set(BundleApplication.objects.get(bundle__code="birth").cases.values_list("state", flat=True)) >= {"draft"}
    # Forms: common items of persons and enterprises across several departments, with identity prefill.
    current = ApplicationForm.objects.filter(is_current=True)
    assert current.values("implementation__base").distinct().count() >= 8
    assert current.values("implementation__department__kind").distinct().count() >= 6
    assert set(current.values_list("version", flat=True)) == {1}
    donghu_birth = Implementation.objects.get(base__code="070100001000", division__code="360102")
    assert set(prefill_fields(form_current(donghu_birth)).values()) == {"name", "id_number", "mobile"}
    assert donghu_birth.step_limits == {"pre_review": 2}
    assert Case.objects.filter(form__isnull=False, state="delivered").exists()
    from tongban.cases.models import CaseMaterial

    attached = CaseMaterial.objects.filter(file__isnull=False).select_related("file")
    assert attached.count() == 3 and all(m.file.content_type == "image/png" and m.file.size > 0 for m in attached)


@pytest.mark.django_db
def test_the_demo_citizens_can_apply_online_and_look_their_cases_up(demo):
    from tongban.cases.forms import case_lookup
    from tongban.demo.cases import DEMO_QUERY_PASSWORD
    from tongban.identity.models import Account

    zhang = Account.objects.get(username="citizen.zhang")
    assert zhang.real_name_level >= 2  # the forms fill name and ID number from the verified identity
    code = demo["first"]["lookup_code"]
    assert len(code) == 43
    assert case_lookup(code, DEMO_QUERY_PASSWORD) is not None
    assert case_lookup(code, "wrong-password") is None
