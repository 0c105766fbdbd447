"""The demo province's cases: the four "one thing done once" bundles of the issue, and cases of
张晓明 in the states a workbench should show on first look (waiting for pre-review, in correction,
being handled, suspended, overdue). Loading again creates nothing."""

from __future__ import annotations

import datetime as dt

from tongban.cases import services as cases
from tongban.cases.models import Case
from tongban.catalog import services as catalog
from tongban.catalog.models import Implementation
from tongban.identity.models import Account
from tongban.org.calendar import add_working_days

SYSTEM = None

BUNDLES = [
    (
        "birth",
        "出生一件事",
        "person",
        "新生儿出生后，一次申请办理出生医学证明、户口登记、医保参保和社会保障卡。",
        [
            {"item": "200400001000"},
            {"item": "070100001000", "depends_on": ["200400001000"]},
            {"item": "200300001000", "depends_on": ["070100001000"]},
            {"item": "200200001000", "depends_on": ["070100001000"]},
        ],
    ),
    (
        "new-car",
        "新车上牌一件事",
        "person",
        "购买新车后，一次申请办理机动车注册登记和检验标志。",
        [{"item": "010100004000"}, {"item": "070100012000", "depends_on": ["010100004000"]}],
    ),
    (
        "second-hand-home",
        "二手房转移登记一件事",
        "person",
        "存量房买卖一次申请办理转移登记；有贷款的，同时办理抵押登记。",
        [{"item": "070900001000"}, {"item": "070900002000", "optional": True, "depends_on": ["070900001000"]}],
    ),
    (
        "enterprise-start",
        "企业开办一件事",
        "enterprise",
        "一次填报，办理企业设立登记、公章刻制、税务信息确认、社保和公积金单位登记。",
        [
            {"item": "070700101000"},
            {"item": "100100101000", "depends_on": ["070700101000"]},
            {"item": "100800101000", "depends_on": ["070700101000"]},
            {"item": "200200101000", "depends_on": ["070700101000"]},
            {"item": "201200101000", "depends_on": ["070700101000"]},
        ],
    ),
]


def load_bundles() -> int:
    for code, name, audience, description, items in BUNDLES:
        catalog.bundle_save(actor=SYSTEM, code=code, name=name, audience=audience, description=description, items=items)
    return len(BUNDLES)


def load_cases() -> int:
    """Five cases of 张晓明 at 东湖区公安局 (出生登记), one per state worth seeing."""
    applicant = Account.objects.filter(username="citizen.zhang").first()
    impl = Implementation.objects.filter(base__code="070100001000", department__division__code="360102").first()
    if applicant is None or impl is None or Case.objects.filter(applicant=applicant).exists():
        return 0
    today = dt.date.today()
    made = 0
    for story in ("submitted", "correcting", "accepted", "suspended", "overdue"):
        draft = cases.case_draft(applicant=applicant, implementation=impl, form_data={"新生儿姓名": "张小宝", "与申请人关系": "父子"})
        case = cases.case_submit(applicant=applicant, case_id=str(draft.public_id))
        made += 1
        if story == "submitted":
            continue
        if story == "correcting":
            materials = list(impl.base.materials.values_list("name", flat=True))[:1]
            cases.correction_notice(
                actor=None,  # type: ignore[arg-type]
                case_id=str(case.public_id),
                expected_version=case.version,
                problems=[{"material": name, "reason": "照片不清晰，请重新上传清晰的扫描件"} for name in materials],
            )
            continue
        accepted_on = today if story != "overdue" else _working_days_before(today, impl.legal_limit + 3)
        case = cases.case_act(actor=None, case_id=str(case.public_id), action="accept", expected_version=case.version, on=accepted_on)
        if story == "suspended":
            cases.case_act(
                actor=None, case_id=str(case.public_id), action="suspend", expected_version=case.version, opinion="需现场核实出生信息"
            )
    return made


def _working_days_before(day: dt.date, days: int) -> dt.date:
    start = day - dt.timedelta(days=days * 2 + 14)
    while add_working_days(start, days) < day:
        start += dt.timedelta(days=1)
    return start
