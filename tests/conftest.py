from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests import factories as f
from tongban.catalog import services as catalog
from tongban.catalog.models import BaseItem
from tongban.org import services as org
from tongban.org.models import Department, Division, Hall


@pytest.fixture(autouse=True)
def _coming_year_entered(request):
    """Tests act on cases "today", and a deadline may cross New Year into a year whose holidays
    nobody has entered yet (the calendar refuses to guess: ADR 0007). Tests run as if the operator
    had entered the years up to next year (weekdays only, no holidays); tests of the calendar
    itself are marked ``real_calendar`` and see only what the libraries know."""
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db", "live_server"} & set(request.fixturenames)
    if request.node.get_closest_marker("real_calendar") or not uses_db:
        yield
        return
    import datetime as dt

    from tongban.org import calendar
    from tongban.org.models import CalendarYear

    request.getfixturevalue("transactional_db" if "transactional_db" in request.fixturenames else "db")
    for year in range(2027, dt.date.today().year + 2):
        if not calendar.year_known(year):
            CalendarYear.objects.update_or_create(year=year, defaults={"source": "测试：按周一至周五计算", "complete": True})
    calendar.forget_estimate_calendar()
    yield
    calendar.forget_estimate_calendar()


@dataclass
class MiniProvince:
    province: Division
    nanchang: Division
    donghu: Division
    nanchang_county: Division
    shangrao: Division
    wuyuan: Division
    police_donghu: Department
    police_county: Department
    police_wuyuan: Department
    police_nanchang: Department
    market_nanchang: Department
    market_donghu: Department
    hrss_province: Department
    birth: BaseItem
    car: BaseItem
    card: BaseItem
    company: BaseItem
    halls: dict[str, Hall]


@pytest.fixture
def mini(db) -> MiniProvince:
    """A small Jiangxi: two cities, three counties, a handful of real items, published."""
    province = f.division("360000", "江西省", 2)
    nanchang = f.division("360100", "南昌市", 3, province)
    donghu = f.division("360102", "东湖区", 4, nanchang)
    county = f.division("360121", "南昌县", 4, nanchang)
    shangrao = f.division("361100", "上饶市", 3, province)
    wuyuan = f.division("361130", "婺源县", 4, shangrao)
    halls = {}
    for d in (province, nanchang, donghu, county, shangrao, wuyuan):
        halls[d.code] = org.hall_upsert(actor=None, division=d, name=f"{d.name}网上办事大厅")
    police_donghu = f.department(donghu, "公安", "01")
    police_county = f.department(county, "公安", "01")
    police_wuyuan = f.department(wuyuan, "公安", "01")
    police_nanchang = f.department(nanchang, "公安", "01")
    market_nanchang = f.department(nanchang, "市场监管", "07")
    market_donghu = f.department(donghu, "市场监管", "07")
    hrss_province = f.department(province, "人社", "02")
    catalog.theme_upsert(actor=None, code="birth", name="生育收养", audience="person")
    catalog.theme_upsert(actor=None, code="e_start", name="企业开办", audience="enterprise")
    catalog.synonym_set(actor=None, term="社保", expansions=["社会保障"])
    catalog.synonym_set(actor=None, term="户口", expansions=["户籍", "落户"])
    catalog.synonym_set(actor=None, term="孩子", expansions=["新生儿"])
    birth = f.published_item(
        "070100001000",
        "出生登记（落户）",
        [police_donghu, police_county, police_wuyuan],
        aliases=["上户口", "新生儿落户"],
        themes=["birth"],
        popularity=350000,
        materials=[
            {"name": "出生医学证明", "source": "shared", "license_type": "出生医学证明"},
            {"name": "父母双方居民户口簿", "source": "shared", "license_type": "居民户口簿"},
        ],
    )
    car = f.published_item(
        "070100002000",
        "机动车注册登记（新车上牌）",
        [police_nanchang],
        aliases=["新车上牌", "上牌照"],
        levels=[3],
        popularity=300000,
    )
    card = f.published_item(
        "200200001000",
        "社会保障卡申领",
        [hrss_province],
        aliases=["领社保卡"],
        levels=[2],
        popularity=500000,
        item_type="20",
    )
    company = f.published_item(
        "070700101000",
        "企业设立登记（有限责任公司）",
        [market_nanchang, market_donghu],
        aliases=["开公司", "注册公司"],
        service_objects=[2],
        themes=["e_start"],
        levels=[3, 4],
        popularity=150000,
        materials=[{"name": "公司登记（备案）申请书", "has_blank_form": True}, {"name": "公司章程"}],
    )
    return MiniProvince(
        province,
        nanchang,
        donghu,
        county,
        shangrao,
        wuyuan,
        police_donghu,
        police_county,
        police_wuyuan,
        police_nanchang,
        market_nanchang,
        market_donghu,
        hrss_province,
        birth,
        car,
        card,
        company,
        halls,
    )


STAFF_PASSWORD = "控制台-测试-密码-2026"


def staff_ready(account):
    """A staff persona as the console expects one: its persona role (operators the operator role,
    department staff the window-clerk role of their department) and a second factor enrolled with a
    known secret (tests/staff_support.py computes its codes to sign in through the form)."""
    from tongban.identity import staff

    staff.persona_role(account=account)
    staff.totp_enrol_known_secret(actor=None, account=account, secret=staff.demo_totp_secret(account.username))
    return account


@pytest.fixture
def operator(mini):
    """Named persona: a platform operator."""
    from tongban.identity import services as identity

    return staff_ready(
        identity.staff_account_upsert(actor=None, username="yunying", password=STAFF_PASSWORD, display_name="运营甲", kind="operator")
    )


def staff_in(department, username: str, display_name: str):
    """A staff member with the default role in ``department``, ready for the console."""
    from tongban.identity import services as identity

    return staff_ready(
        identity.staff_account_upsert(
            actor=None, username=username, password=STAFF_PASSWORD, display_name=display_name, kind="staff", department=department
        )
    )


@pytest.fixture
def clerk(mini):
    """Named persona: a window clerk of 东湖区公安局."""
    return staff_in(mini.police_donghu, "donghu-police", "东湖民警")


@pytest.fixture
def stranger(mini):
    """Named persona: a clerk of 南昌县公安局, the same items as ``clerk`` but another department."""
    return staff_in(mini.police_county, "county-police", "南昌县民警")


CITIZEN_PASSWORD = "市民-测试-密码-2026"


@pytest.fixture
def templates(db):
    """The message templates the platform's own domains send (messaging.builtin)."""
    from tongban.messaging.builtin import builtin_templates_save

    builtin_templates_save(actor=None)


@pytest.fixture
def citizen(db):
    """Named persona: 张晓明, a citizen with a mobile number and an e-mail address."""
    from tongban.identity import services as identity

    return identity.citizen_account_upsert(
        actor=None,
        username="zhangxm",
        password=CITIZEN_PASSWORD,
        display_name="张晓明",
        mobile="13812345678",
        id_number="11010519491231002X",
        email="zhangxm@example.cn",
    )


@pytest.fixture
def other_citizen(db):
    """Named persona: 李红, another citizen (for "not yours" checks)."""
    from tongban.identity import services as identity

    return identity.citizen_account_upsert(
        actor=None, username="lihong", password=CITIZEN_PASSWORD, display_name="李红", mobile="13987654321", id_number="360102198803150026"
    )


@pytest.fixture(autouse=True)
def _quiet_sandbox(settings):
    """The sandbox SMS gateway is instant and never fails at random in tests; tests that need
    latency, throttling or a failure share set them, and the test numbers fail deterministically."""
    settings.SMS_SANDBOX_LATENCY_MS = 0
    settings.SMS_SANDBOX_FAILURE_RATE = 0.0
    settings.SMS_SANDBOX_RECEIPT_SECONDS = 0
    settings.SMS_SANDBOX_MAX_PER_SECOND = 10_000
    settings.MESSAGING_SEND_CONCURRENCY = 1  # threads would not see the test's uncommitted rows


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    """Tests serve static files straight from the apps, without a collectstatic manifest."""
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Per-process caches are keyed to stay true in production; between tests ids are reused
    (SQLite) or rolled back, so every test starts with empty caches."""
    from tongban.catalog.selectors import forget_cached_scopes
    from tongban.messaging.services import forget_cached_templates
    from tongban.org.calendar import forget_estimate_calendar
    from tongban.org.selectors import forget_cached_halls
    from tongban.search.selectors import forget_cached_facts

    forgets = (forget_cached_scopes, forget_cached_facts, forget_cached_halls, forget_estimate_calendar, forget_cached_templates)
    for forget in forgets:
        forget()
    yield
    for forget in forgets:
        forget()
