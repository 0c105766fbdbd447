"""`tongban demo`: the Jiangxi demo province, loaded deterministically from compact data.

Everything goes through the domains' services (validated and audited like any operator's
work); only the thousands of generated departments and implementations use the bulk variants.
Running it twice changes nothing the second time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from tongban.catalog import services as catalog
from tongban.catalog.models import BaseItem, Implementation, Status
from tongban.demo import cases as demo_cases
from tongban.demo import departments as dept_data
from tongban.demo import divisions as div_data
from tongban.demo import identity as demo_identity
from tongban.demo import messages as demo_messages
from tongban.demo import themes as theme_data
from tongban.demo.codes import credit_code
from tongban.demo.items_enterprise import ITEMS as ENTERPRISE_ITEMS
from tongban.demo.items_person import ITEMS as PERSON_ITEMS
from tongban.identity import services as identity
from tongban.identity.models import RealNameEvent, RealNameLevel
from tongban.org import services as org
from tongban.org.models import Department, Division, Hall
from tongban.search.services import search_rebuild

SYSTEM = None  # the loader acts as "system" in the audit trail

AREA_CODES = {
    "360000": "0791",
    "360100": "0791",
    "360200": "0798",
    "360300": "0799",
    "360400": "0792",
    "360500": "0790",
    "360600": "0701",
    "360700": "0797",
    "360800": "0796",
    "360900": "0795",
    "361000": "0794",
    "361100": "0793",
}
HOURS = "周一至周五 上午 9:00—12:00，下午 13:30—17:00（法定节假日除外）；中午和周六提供预约延时服务"

DEMO_PASSWORD = "Tongban-Demo-2026"


@dataclass
class DemoAccount:
    username: str
    password: str
    role: str
    where: str
    totp: str = ""  # staff: the demo TOTP secret to put in an authenticator


def _digits(seed: str, n: int) -> str:
    return str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[:n]


def display_name(division: Division) -> str:
    """How a division appears in department names: a district carries its city ("南昌市东湖区")."""
    if division.level == Division.Level.COUNTY and division.name.endswith("区") and division.parent:
        return division.parent.name + division.name
    return division.name


def phone(division: Division, salt: str) -> str:
    city = division.code[:4] + "00"
    return f"{AREA_CODES.get(city, '0791')}-8{_digits(division.code + salt, 7)}"


def load_divisions() -> dict[str, Division]:
    result: dict[str, Division] = {}
    province = org.division_upsert(actor=SYSTEM, code=div_data.PROVINCE[0], name=div_data.PROVINCE[1], level=2, parent=None)
    result[province.code] = province
    for city_code, city_name, counties in div_data.CITIES:
        city = org.division_upsert(actor=SYSTEM, code=city_code, name=city_name, level=3, parent=province)
        result[city.code] = city
        for county_code, county_name in counties:
            county = org.division_upsert(actor=SYSTEM, code=county_code, name=county_name, level=4, parent=city)
            result[county.code] = county
            for town_code, town_name, villages in div_data.TOWNS.get(county_code, []):
                town = org.division_upsert(actor=SYSTEM, code=town_code, name=town_name, level=5, parent=county)
                result[town.code] = town
                for village_code, village_name in villages:
                    village = org.division_upsert(actor=SYSTEM, code=village_code, name=village_name, level=6, parent=town)
                    result[village.code] = village
    return result


def load_halls(divisions: dict[str, Division]) -> None:
    for division in divisions.values():
        if division.level > Division.Level.COUNTY:
            continue
        if division.level == Division.Level.PROVINCE:
            name, address = "江西省网上办事大厅（主厅）", "江西省政务服务中心（南昌市红谷滩区丰和中大道 1166 号）"
        else:
            name = f"{display_name(division)}网上办事分厅"
            address = f"{display_name(division)}政务服务中心"
        org.hall_upsert(actor=SYSTEM, division=division, name=name, address=address, hours=HOURS, phone=phone(division, "hall"))


def load_departments(divisions: dict[str, Division]) -> int:
    rows = []
    for division in divisions.values():
        if division.level > Division.Level.COUNTY:
            continue
        for sort, kind in enumerate(dept_data.KINDS):
            if division.level not in kind["levels"]:  # type: ignore[operator]
                continue
            if division.level == Division.Level.PROVINCE:
                name = str(kind["province"])
            else:
                name = str(kind["local"]).format(d=display_name(division))
            if not name:
                continue
            rows.append(
                {
                    "credit_code": credit_code(str(kind["code"]), division.code, str(kind["class"])),
                    "name": name,
                    "short_name": str(kind["kind"]),
                    "division": division,
                    "kind": str(kind["kind"]),
                    "phone": phone(division, str(kind["code"])),
                    "address": f"{display_name(division)}政务服务中心",
                    "sort": sort,
                }
            )
    return org.departments_bulk_create(actor=SYSTEM, rows=rows)


def load_themes() -> None:
    for sort, (code, name, description) in enumerate(theme_data.PERSON_THEMES):
        catalog.theme_upsert(actor=SYSTEM, code=code, name=name, audience="person", description=description, sort=sort)
    for sort, (code, name, description) in enumerate(theme_data.ENTERPRISE_THEMES):
        catalog.theme_upsert(actor=SYSTEM, code=code, name=name, audience="enterprise", description=description, sort=sort)


ALL_ITEMS: list[dict[str, Any]] = [*PERSON_ITEMS, *ENTERPRISE_ITEMS]


def load_items() -> None:
    for raw in ALL_ITEMS:
        data = {k: v for k, v in raw.items() if k != "impl"}
        data["status"] = Status.DRAFT
        catalog.base_item_save(actor=SYSTEM, data=data, reason="演示数据")
        catalog.base_item_set_status(actor=SYSTEM, code=raw["code"], status=Status.PUBLISHED, reason="演示数据")


def implementation_rows(divisions: dict[str, Division], items: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    departments = {(d.division_id, d.kind): d for d in Department.objects.all()}
    halls = {h.division_id: h for h in Hall.objects.all()}
    rows = []
    for raw in ALL_ITEMS if items is None else items:
        profile = raw["impl"]
        for division in divisions.values():
            if division.level not in profile["levels"]:
                continue
            department = departments.get((division.pk, profile["dept_kind"]))
            if department is None:
                continue
            hall = halls.get(division.pk)
            where = hall.address if hall else department.address
            rows.append(
                {
                    "base_code": raw["code"],
                    "department": department.credit_code,
                    "level": division.level,
                    "case_type": profile["case_type"],
                    "legal_limit": profile["legal_limit"],
                    "legal_limit_unit": profile.get("legal_limit_unit", 1),
                    "legal_limit_note": profile.get("legal_limit_note", ""),
                    "promised_limit": profile["promised_limit"],
                    "promised_limit_unit": profile.get("promised_limit_unit", 1),
                    "promised_limit_note": profile.get("promised_limit_note", ""),
                    "handling_forms": profile["handling_forms"],
                    "online_depth": profile["online_depth"],
                    "visits": profile["visits"],
                    "fee_required": profile["fee_required"] or bool(raw["fees"]),
                    "place": f"{where}{department.short_name}窗口",
                    "hours": HOURS,
                    "consult_channel": f"{department.name}咨询电话 {department.phone}；12345 政务服务便民热线",
                    "complaint_channel": f"12345 政务服务便民热线；{display_name(division)}政务服务中心投诉电话 {phone(division, 'complaint')}",
                    "special_procedures": profile.get("special_procedures", ""),
                    "handling_area": profile.get("handling_area", ""),
                    "appointment": profile.get("appointment", False),
                    "courier": profile.get("courier", False),
                    "online_payment": profile.get("online_payment", False),
                    "kiosk": profile.get("kiosk", False),
                    "status": Status.PUBLISHED,
                }
            )
    return rows


def load_zones() -> None:
    items = list(BaseItem.objects.prefetch_related("materials", "themes"))
    by_name = {item.name: item.code for item in items}
    no_visit = [i.code for i in sorted(items, key=lambda i: -i.popularity) if Implementation.objects.filter(base=i, visits=0).exists()][:24]
    certificate_free = [i.code for i in sorted(items, key=lambda i: -i.popularity) if any(m.license_type for m in i.materials.all())][:24]
    start = [i.code for i in items if any(t.code == "e_start" for t in i.themes.all())]
    birth = [by_name[n] for n in ("出生医学证明办理", "出生登记（落户）", "新生儿医保参保登记", "社会保障卡申领") if n in by_name]
    enterprise = [i.code for i in sorted(items, key=lambda i: -i.popularity) if 1 not in i.service_objects][:30]
    zones = [
        ("birth_once", "新生儿出生“一件事”", "theme", "出生医学证明、落户、医保参保、社保卡，一次告知、一表申请。", birth),
        ("enterprise_start", "企业开办专区", "enterprise", "设立登记、公章刻制、税务、社保、公积金一网通办。", start),
        ("enterprise_all", "企业服务专区", "enterprise", "面向企业和其他组织的常用服务。", enterprise),
        ("certificate_free", "免证办专区", "certificate_free", "可用电子证照代替纸质材料，办事不用再带证。", certificate_free),
        ("no_visit", "不见面审批专区", "no_visit", "全程网办，一次也不用跑。", no_visit),
    ]
    for kind_label in ("公安", "人社", "市场监管"):
        codes = [i.code for i in items if any(r["code"] == i.code and r["impl"]["dept_kind"] == kind_label for r in ALL_ITEMS)]
        zones.append(
            (f"dept_{dept_data.KIND_CODES[kind_label]}", f"{kind_label}服务专区", "department", f"{kind_label}部门的服务事项。", codes)
        )
    for sort, (code, name, kind, description, item_codes) in enumerate(zones):
        if item_codes:
            catalog.zone_save(
                actor=SYSTEM,
                code=code,
                name=name,
                kind=kind,
                item_codes=item_codes,
                description=description,
                sort=sort,
                status=Status.PUBLISHED,
            )


SYNONYMS = {
    "社保": ["社会保障", "社会保险"],
    "医保": ["医疗保障", "医疗保险"],
    "公积金": ["住房公积金"],
    "驾照": ["驾驶证"],
    "身份证": ["居民身份证"],
    "户口": ["户籍", "落户"],
    "上户口": ["出生登记", "落户"],
    "报户口": ["出生登记", "落户"],
    "开公司": ["企业设立"],
    "注册公司": ["企业设立"],
    "营业执照": ["设立登记"],
    "房产证": ["不动产权证书"],
    "过户": ["转移登记"],
    "退休": ["基本养老金"],
    "低保": ["最低生活保障"],
    "残疾证": ["残疾人证"],
    "上牌": ["注册登记"],
    "孩子": ["新生儿", "子女"],
    "小孩": ["新生儿", "子女"],
    "宝宝": ["新生儿", "出生"],
    "开店": ["个体工商户", "食品经营"],
    "饭店": ["食品经营"],
    "电表": ["用电报装"],
    "装电": ["用电报装"],
    "护照": ["普通护照"],
    "失业金": ["失业保险金"],
    "港澳通行证": ["往来港澳通行证"],
    "上学": ["入学"],
    "读书": ["入学"],
    "刻章": ["公章刻制"],
    "发票": ["发票领用"],
    "关公司": ["企业注销"],
}


def load_synonyms() -> None:
    for term, expansions in SYNONYMS.items():
        catalog.synonym_set(actor=SYSTEM, term=term, expansions=expansions)


def load_calendar_years() -> list[int]:
    """The demo must load and run on any day, and case deadlines run past New Year: a year neither
    the `chinesecalendar` package nor an operator knows is entered as weekdays only, with a source
    that says so. A real platform enters each year from the State Council notice instead."""
    from tongban.cases.services import LOCAL
    from tongban.org import calendar
    from tongban.org import services as org_services

    entered = []
    this_year = timezone.localdate(timezone.now(), LOCAL).year
    for year in (this_year, this_year + 1):
        if not calendar.year_known(year):
            org_services.calendar_year_set(
                actor=SYSTEM,
                year=year,
                source="演示数据：按周一至周五计算，未含法定节假日；正式上线前请按国务院办公厅通知录入",
                complete=True,
            )
            entered.append(year)
    return entered


def load_accounts() -> list[DemoAccount]:
    operator = identity.staff_account_upsert(
        actor=SYSTEM, username="operator", password=DEMO_PASSWORD, display_name="省平台运营 王敏", kind="operator"
    )
    accounts = [DemoAccount("operator", DEMO_PASSWORD, "平台运营人员", "江西省", demo_identity.prepare_staff(operator))]
    clerk_dept = Department.objects.filter(division__code="360102", kind="市场监管").first()
    if clerk_dept is not None:
        clerk = identity.staff_account_upsert(
            actor=SYSTEM,
            username="clerk.donghu",
            password=DEMO_PASSWORD,
            display_name="东湖区市场监管局窗口 李娜",
            kind="staff",
            department=clerk_dept,
        )
        accounts.append(DemoAccount("clerk.donghu", DEMO_PASSWORD, "县级部门窗口人员", clerk_dept.name, demo_identity.prepare_staff(clerk)))
    for account, label, secret in demo_identity.load_staff(DEMO_PASSWORD):
        accounts.append(DemoAccount(account.username, DEMO_PASSWORD, label, account.department.name if account.department else "", secret))
    return accounts


def load_demo() -> dict[str, Any]:
    with transaction.atomic():
        divisions = load_divisions()
        load_halls(divisions)
        departments = load_departments(divisions)
        load_themes()
        load_items()
        implementations = catalog.implementations_bulk_create(actor=SYSTEM, rows=implementation_rows(divisions))
        load_zones()
        load_synonyms()
        accounts = load_accounts()
        citizens = demo_messages.load_citizens(DEMO_PASSWORD)
        for citizen in citizens:  # real-name checked, so the application forms fill themselves
            demo_identity.set_level(citizen, RealNameLevel.L2, RealNameEvent.Method.POPULATION)
        accounts += [DemoAccount(c.username, DEMO_PASSWORD, "市民 L2 实名用户", "门户 /login/") for c in citizens]
        api_client = demo_messages.load_messaging(citizens)
        accounts += [
            DemoAccount(c.username, DEMO_PASSWORD, f"市民 {level}", "门户 /login/")
            for c, level in demo_identity.load_citizens(DEMO_PASSWORD)
        ]
        oidc_app = demo_identity.load_application()
        load_calendar_years()
        demo_cases.load_bundles()
        demo_cases.load_forms()
        demo_cases.load_cases()
    indexed = search_rebuild()
    return {
        "divisions": len(divisions),
        "departments_created": departments,
        "items": BaseItem.objects.count(),
        "implementations_created": implementations,
        "implementations": Implementation.objects.count(),
        "indexed": indexed,
        "accounts": accounts,
        "api_client": api_client,
        "oidc_app": oidc_app,
        "lookup_code": demo_cases.lookup_example(),
    }
