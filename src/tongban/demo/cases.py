"""The demo province's cases: the four "one thing done once" bundles of the issue, application
forms for the common items (prefilled from the applicant's verified identity), and cases of several
citizens at several departments in every state of the case machine — overdue (red), on its last
day (yellow), suspended, in correction — with two bundles under way, so that the workbench, the
supervision list and 我的办件 are alive on first look. Loading again creates nothing."""

from __future__ import annotations

import datetime as dt
import struct
import zlib
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.files.base import ContentFile
from django.db.models import Q
from django.utils import timezone

from tongban.cases import bundles, forms, machine, materials
from tongban.cases import services as cases
from tongban.cases.models import ApplicationForm, BundleApplication, Case
from tongban.catalog import services as catalog
from tongban.catalog.models import Implementation
from tongban.identity.models import Account
from tongban.org.calendar import WorkCalendar

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


DEMO_QUERY_PASSWORD = "cx2026"  # the query password of every demo case (lookup without signing in)


def load_cases() -> int:
    """张晓明's five cases at 东湖区公安局 (出生登记), the other citizens' stories and the bundles."""
    made = load_birth_cases() + load_stories() + load_bundle_applications()
    load_query_passwords()
    return made


def load_query_passwords() -> int:
    """Demo cases get one known query password, so /cases/lookup/ can be tried (one hash for all)."""
    waiting = Case.objects.exclude(code=None).filter(query_password_hash="")
    if not waiting.exists():
        return 0
    return waiting.update(query_password_hash=make_password(DEMO_QUERY_PASSWORD))


def lookup_example() -> str:
    """A demo case's code to try the lookup with."""
    case = Case.objects.filter(applicant__username="citizen.zhang").exclude(code=None).order_by("id").first()
    return case.code or "" if case is not None else ""


def load_birth_cases() -> int:
    """Five cases of 张晓明 at 东湖区公安局 (出生登记), one per state worth seeing."""
    applicant = Account.objects.filter(username="citizen.zhang").first()
    impl = Implementation.objects.filter(base__code="070100001000", department__division__code="360102").first()
    if applicant is None or impl is None:
        return 0
    if Case.objects.filter(applicant=applicant, implementation=impl, bundle_application__isnull=True).exists():
        return 0
    today = _today()
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


def _today() -> dt.date:
    """Today where the cases are handled (the services' local day, not the server's)."""
    return timezone.localdate(timezone.now(), cases.LOCAL)


def _next_workday(day: dt.date) -> dt.date:
    calendar = WorkCalendar()
    while not calendar.is_workday(day):
        day += dt.timedelta(days=1)
    return day


def _working_days_before(day: dt.date, days: int) -> dt.date:
    """The day from which ``days`` working days reach ``day`` (one calendar snapshot, not one per day)."""
    calendar = WorkCalendar()
    start, counted = day, 0
    while counted < days:
        counted += calendar.is_workday(start)
        start -= dt.timedelta(days=1)
    return start


# --- application forms ---------------------------------------------------------------------------------

DATE = r"^\d{4}-\d{2}-\d{2}$"
DATE_HINT = "格式如 2026-10-08"
CREDIT_CODE = r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$"
MOBILE = r"^1\d{10}$"


def f(name: str, title: str, kind: str = "string", required: bool = True, **extra: Any) -> dict[str, Any]:
    return {"name": name, "title": title, "type": kind, "required": required, **extra}


def applicant(title: str = "申请人") -> list[dict[str, Any]]:
    """Who applies: filled by the platform from the verified identity, never typed."""
    return [
        f("applicant_name", f"{title}姓名", prefill="name"),
        f("applicant_id", "身份证号码", prefill="id_number"),
        f("applicant_mobile", "联系电话", prefill="mobile"),
    ]


def enterprise(name_title: str = "企业名称") -> list[dict[str, Any]]:
    return [
        f("company_name", name_title, maxLength=100),
        f("credit_code", "统一社会信用代码", pattern=CREDIT_CODE, hint="18 位，见营业执照"),
    ]


PICKUP = f("pickup", "领取方式", enum=["窗口领取", "邮寄到家"])
POST_ADDRESS = f("post_address", "邮寄地址", required=False, maxLength=100, hint="选择邮寄到家时填写")

# item code: (steps [(title, fields)], commitment)
FORMS: dict[str, tuple[list[tuple[str, list[dict[str, Any]]]], bool]] = {
    "200400001000": (
        [
            ("申请人信息", applicant("父亲或母亲")),
            (
                "新生儿信息",
                [
                    f("baby_name", "新生儿姓名", maxLength=20),
                    f("baby_sex", "新生儿性别", enum=["男", "女"]),
                    f("birth_date", "出生日期", pattern=DATE, hint=DATE_HINT),
                    f("birth_hospital", "出生医院", maxLength=60),
                    f("mother_name", "母亲姓名", maxLength=20),
                    f("father_name", "父亲姓名", required=False, maxLength=20),
                ],
            ),
        ],
        False,
    ),
    "070100001000": (
        [
            ("申请人信息", applicant()),
            (
                "新生儿信息",
                [
                    f("baby_name", "新生儿姓名", maxLength=20),
                    f("baby_sex", "新生儿性别", enum=["男", "女"]),
                    f("birth_date", "出生日期", pattern=DATE, hint=DATE_HINT),
                    f("birth_cert_no", "出生医学证明编号", pattern=r"^[A-Z]\d{9}$", hint="1 位字母加 9 位数字，见出生医学证明右上角"),
                    f("relation", "与申请人关系", enum=["父子", "父女", "母子", "母女"]),
                ],
            ),
            (
                "落户信息",
                [
                    f("follow", "随父或随母落户", enum=["随父", "随母"]),
                    f("register_address", "落户地址", maxLength=100, hint="与父亲或母亲户口簿上的地址一致"),
                ],
            ),
        ],
        False,
    ),
    "200300001000": (
        [
            ("申请人信息", applicant("监护人")),
            (
                "参保信息",
                [
                    f("baby_name", "新生儿姓名", maxLength=20),
                    f("baby_id", "新生儿身份证号码", pattern=r"^\d{17}[\dX]$", hint="落户后取得"),
                    f("pay_way", "缴费方式", enum=["银行代扣", "微信或支付宝缴费", "窗口缴费"]),
                ],
            ),
        ],
        False,
    ),
    "200200001000": (
        [
            ("申请人信息", applicant()),
            (
                "领卡信息",
                [
                    f("reason", "申领原因", enum=["首次申领", "换领", "补领"]),
                    f("bank", "服务银行", enum=["中国工商银行", "中国农业银行", "中国建设银行", "中国银行", "江西银行"]),
                    PICKUP,
                    POST_ADDRESS,
                    f("finance", "同意开通金融功能", "boolean", required=False),
                ],
            ),
        ],
        False,
    ),
    "070100002000": (
        [("申请信息", [*applicant(), f("reason", "换领原因", enum=["有效期满", "证件损坏", "登记项目变更"]), PICKUP, POST_ADDRESS])],
        False,
    ),
    "070100005000": (
        [
            ("申请人信息", applicant()),
            (
                "迁移信息",
                [
                    f("from_address", "迁出地址", maxLength=100),
                    f("to_address", "迁入地址", maxLength=100),
                    f("reason", "迁移原因", enum=["购房", "投靠亲属", "工作调动", "毕业生落户"]),
                    f("people", "随迁人数", "integer", required=False, hint="不含本人，没有随迁人员填 0"),
                ],
            ),
        ],
        False,
    ),
    "070100007000": (
        [("申请信息", [*applicant(), f("reason", "申领原因", enum=["居民身份证正在办理", "乘机乘车急需", "其他"])])],
        False,
    ),
    "200100006000": (
        [
            (
                "申请信息",
                [
                    *applicant(),
                    f("address", "居住地址", maxLength=100),
                    f("basis", "居住事由", enum=["就业", "就学", "居住"]),
                    f("since", "居住起始日期", pattern=DATE, hint=DATE_HINT),
                ],
            )
        ],
        True,
    ),
    "010100003000": (
        [
            (
                "申请信息",
                [
                    *applicant(),
                    f("licence_class", "准驾车型", enum=["C1", "C2", "B1", "B2", "A1", "A2"]),
                    f("reason", "换证原因", enum=["有效期满", "转入换证", "达到规定年龄"]),
                    PICKUP,
                    POST_ADDRESS,
                ],
            )
        ],
        False,
    ),
    "010100004000": (
        [
            ("车主信息", applicant("车主")),
            (
                "车辆信息",
                [
                    f("vin", "车辆识别代号（VIN）", pattern=r"^[A-HJ-NPR-Z0-9]{17}$", hint="17 位，见机动车整车出厂合格证"),
                    f("model", "品牌型号", maxLength=50),
                    f("use", "使用性质", enum=["非营运", "预约出租客运", "货运"]),
                    f("invoice_no", "购车发票号码", maxLength=30),
                ],
            ),
            ("号牌", [f("plate_way", "选号方式", enum=["互联网自选号牌", "现场选号"])]),
        ],
        False,
    ),
    "070100012000": (
        [
            (
                "申请信息",
                [
                    *applicant("车主"),
                    f("plate", "号牌号码", pattern=r"^赣[A-HJ-NP-Z][A-HJ-NP-Z0-9]{5,6}$", hint="例如 赣A12345"),
                    f("vehicle_type", "车辆类型", enum=["小型汽车", "小型新能源汽车"]),
                    f("insurance_no", "交强险保单号", maxLength=30),
                ],
            )
        ],
        False,
    ),
    "201200001000": (
        [
            ("申请人信息", applicant("职工")),
            (
                "提取信息",
                [
                    f("account_no", "个人公积金账号", pattern=r"^\d{9,14}$"),
                    f("contract_no", "购房合同备案号", maxLength=40),
                    f("house", "房屋坐落", maxLength=100),
                    f("amount", "提取金额（元）", "integer"),
                    f("bank_account", "收款银行卡号", pattern=r"^\d{12,19}$", hint="本人名下的一类银行卡"),
                ],
            ),
        ],
        True,
    ),
    "200300002000": (
        [
            (
                "备案信息",
                [
                    *applicant("参保人"),
                    f("kind", "备案类型", enum=["异地长期居住", "常驻异地工作", "异地转诊", "临时外出就医"]),
                    f("place", "就医地（省、市）", maxLength=40, hint="例如 广东省深圳市"),
                    f("start", "备案开始日期", pattern=DATE, hint=DATE_HINT),
                ],
            )
        ],
        True,
    ),
    "070900001000": (
        [
            ("申请人信息", applicant("买受人")),
            (
                "房屋信息",
                [
                    f("cert_no", "不动产权证书号", maxLength=40, hint="例如 赣（2020）南昌市不动产权第0012345号"),
                    f("house", "房屋坐落", maxLength=100),
                    f("seller", "出卖人姓名", maxLength=20),
                    f("price", "成交价格（元）", "integer"),
                    f("loan", "同时办理抵押登记", "boolean", required=False),
                ],
            ),
        ],
        True,
    ),
    "070900002000": (
        [
            (
                "抵押信息",
                [
                    *applicant("抵押人"),
                    f("cert_no", "不动产权证书号", maxLength=40),
                    f("mortgagee", "抵押权人", maxLength=60, hint="贷款银行全称"),
                    f("amount", "被担保主债权数额（万元）", "integer"),
                    f("term", "债务履行期限", maxLength=40, hint="例如 2026-12-01 至 2056-11-30"),
                ],
            )
        ],
        False,
    ),
    "070700101000": (
        [
            ("经办人", applicant("经办人")),
            (
                "企业信息",
                [
                    f("company_name", "企业名称", maxLength=100, hint="与名称自主申报结果一致"),
                    f("address", "住所", maxLength=100),
                    f("capital", "注册资本（万元）", "integer"),
                    f("legal_rep", "法定代表人姓名", maxLength=20),
                    f("scope", "经营范围", maxLength=500, hint="可从经营范围规范表述目录中选择"),
                ],
            ),
            (
                "同步办理",
                [f("seal", "同时申请公章刻制", "boolean", required=False), f("invoice", "同时申领发票", "boolean", required=False)],
            ),
        ],
        True,
    ),
    "070700102000": (
        [
            ("经营者", applicant("经营者")),
            (
                "个体工商户信息",
                [
                    f("shop_name", "名称", required=False, maxLength=60, hint="可以不起字号名称"),
                    f("form", "组成形式", enum=["个人经营", "家庭经营"]),
                    f("place", "经营场所", maxLength=100),
                    f("scope", "经营范围", maxLength=300),
                ],
            ),
        ],
        True,
    ),
    "100100101000": (
        [
            ("经办人", applicant("经办人")),
            (
                "印章信息",
                [
                    *enterprise(),
                    f("seal_kinds", "刻制印章", enum=["公章、财务专用章、发票专用章", "公章", "公章、财务专用章"]),
                    f("maker", "刻制单位", maxLength=60),
                ],
            ),
        ],
        False,
    ),
    "100800101000": (
        [
            ("经办人", applicant("经办人")),
            (
                "涉税信息",
                [
                    *enterprise(),
                    f("finance_name", "财务负责人姓名", maxLength=20),
                    f("finance_mobile", "财务负责人手机号码", pattern=MOBILE),
                    f("accounting", "适用会计制度", enum=["小企业会计准则", "企业会计准则"]),
                ],
            ),
        ],
        False,
    ),
    "200200101000": (
        [
            ("经办人", applicant("经办人")),
            (
                "单位信息",
                [
                    *enterprise("单位名称"),
                    f("staff", "参保职工人数", "integer"),
                    f("insurance", "参保险种", enum=["五险（养老、医疗、失业、工伤、生育）", "养老、失业、工伤"]),
                ],
            ),
        ],
        False,
    ),
    "201200101000": (
        [
            ("经办人", applicant("经办人")),
            (
                "单位信息",
                [*enterprise("单位名称"), f("rate", "缴存比例", enum=["5%", "8%", "10%", "12%"]), f("staff", "缴存职工人数", "integer")],
            ),
        ],
        False,
    ),
}
# Implementations with their own step limits (working days): the workbench shows each step's clock.
STEP_LIMITS = {("070100001000", "360102"): {"pre_review": 2}, ("070700101000", "360102"): {"pre_review": 1, "review": 3}}
FORM_DIVISIONS = Q(division__code__in=["360000", "360100"]) | Q(division__parent__code="360100")


def form_definition(code: str) -> tuple[dict[str, Any], dict[str, Any]]:
    steps, commitment = FORMS[code]
    properties: dict[str, Any] = {}
    required: list[str] = []
    hints: dict[str, Any] = {}
    for _, fields in steps:
        for spec in fields:
            extra = {k: spec[k] for k in ("enum", "maxLength", "pattern") if k in spec}
            properties[spec["name"]] = {"type": spec["type"], "title": spec["title"], **extra}
            if spec["required"]:
                required.append(spec["name"])
            hint = {k: spec[k] for k in ("prefill", "hint") if k in spec}
            if hint:
                hints[spec["name"]] = hint
    layout: dict[str, Any] = {
        "steps": [{"title": title, "fields": [s["name"] for s in fields]} for title, fields in steps],
        "fields": hints,
    }
    if commitment:
        layout["commitment"] = True
    return {"type": "object", "properties": properties, "required": required}, layout


def load_forms() -> int:
    """The application form of every FORMS item in the province, Nanchang and its districts
    (where the demo's staff and cases are); the step limits of a couple of implementations."""
    made = 0
    with_form = set(ApplicationForm.objects.values_list("implementation_id", flat=True))
    definitions = {code: form_definition(code) for code in FORMS}
    for impl in Implementation.objects.filter(FORM_DIVISIONS, base__code__in=list(FORMS)).select_related("base").order_by("code"):
        if impl.pk in with_form:
            continue
        schema, layout = definitions[impl.base.code]
        forms.application_form_save(actor=SYSTEM, implementation=impl, schema=schema, layout=layout)
        made += 1
    for (code, division), limits in STEP_LIMITS.items():
        Implementation.objects.filter(base__code=code, division__code=division).exclude(step_limits=limits).update(step_limits=limits)
    return made


# --- cases in every state --------------------------------------------------------------------------------

# applicant, division, item, story, what was filled in
STORIES: list[tuple[str, str, str, str, dict[str, Any]]] = [
    ("citizen.zhang", "360102", "070100002000", "draft", {"reason": "有效期满", "pickup": "邮寄到家"}),
    (
        "citizen.zhang",
        "360102",
        "070700102000",
        "supplementing",
        {
            "shop_name": "晓明便利店",
            "form": "个人经营",
            "place": "南昌市东湖区豫章街道八一大道 168 号",
            "scope": "日用百货、预包装食品零售",
        },
    ),
    (
        "citizen.zhang",
        "360100",
        "010100003000",
        "decided",
        {"licence_class": "C1", "reason": "有效期满", "pickup": "邮寄到家", "post_address": "南昌市东湖区八一大道 168 号"},
    ),
    ("citizen.zhang", "360102", "200300002000", "concluded", {"kind": "常驻异地工作", "place": "广东省深圳市", "start": "2026-12-01"}),
    ("citizen.zhang", "360102", "200200001000", "delivered", {"reason": "换领", "bank": "江西银行", "pickup": "窗口领取", "finance": True}),
    (
        "citizen.zhang",
        "360100",
        "201200001000",
        "refused",
        {
            "account_no": "360100123456",
            "contract_no": "NC2026-0815",
            "house": "南昌市红谷滩区凤凰中大道 9 号",
            "amount": 80000,
            "bank_account": "6222021502001234567",
        },
    ),
    (
        "citizen.zhang",
        "360102",
        "070100005000",
        "withdrawn",
        {"from_address": "江西省上饶市婺源县紫阳镇", "to_address": "南昌市东湖区八一大道 168 号", "reason": "购房", "people": 1},
    ),
    (
        "citizen.sun",
        "360102",
        "200100006000",
        "red",
        {"address": "南昌市东湖区豫章路 12 号", "basis": "就业", "since": "2026-03-01"},
    ),
    (
        "citizen.zhou",
        "360100",
        "070900001000",
        "red",
        {
            "cert_no": "赣（2019）南昌市不动产权第0034567号",
            "house": "南昌市东湖区阳明路 88 号 2 栋 501 室",
            "seller": "钱文",
            "price": 1260000,
            "loan": False,
        },
    ),
    (
        "citizen.zhao",
        "360102",
        "070700101000",
        "yellow",
        {
            "company_name": "南昌赵氏科技有限公司",
            "address": "南昌市东湖区青山南路 1 号",
            "capital": 100,
            "legal_rep": "赵刚",
            "scope": "软件开发；信息技术咨询服务",
            "seal": True,
            "invoice": True,
        },
    ),
    ("citizen.zhao", "360102", "070100007000", "suspended", {"reason": "乘机乘车急需"}),
    ("citizen.zhou", "360102", "070100002000", "correcting", {"reason": "证件损坏", "pickup": "窗口领取"}),
    ("citizen.sun", "360100", "010100003000", "submitted", {"licence_class": "C2", "reason": "转入换证", "pickup": "窗口领取"}),
    (
        "citizen.sun",
        "360102",
        "070700102000",
        "accepted",
        {"form": "家庭经营", "place": "南昌市东湖区滕王阁街道沿江北大道 5 号", "scope": "小吃服务"},
    ),
]
OPINIONS = {
    "supplementing": "经营场所使用证明未载明房屋用途，请补充产权人出具的用途说明。",
    "suspended": "需到户籍地核实身份信息，核实期间暂停计时。",
    "refused": "购房合同尚未网签备案，不符合提取条件；备案后可重新申请。",
}


def _account(username: str) -> Account | None:
    return Account.objects.filter(username=username).first()


def _impl(item: str, division: str) -> Implementation | None:
    return Implementation.objects.filter(base__code=item, division__code=division).select_related("base", "department").first()


def _clerk(impl: Implementation) -> Account | None:
    """A demo clerk of the implementation's department, when there is one: steps carry a name."""
    return Account.objects.filter(department=impl.department_id, kind=Account.Kind.STAFF).order_by("username").first()


def _filled(applicant: Account, impl: Implementation, data: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    form = forms.form_current(impl)
    if form is None:
        return data
    # What the platform fills from the verified identity; for accounts not verified yet, what the
    # demo knows of them (the portal asks them to verify first).
    known = {"name": applicant.display_name, "id_number": applicant.id_number, "mobile": applicant.mobile}
    filled = {**data, **{name: known[kind] for name, kind in forms.prefill_fields(form).items()}}
    if partial:
        return filled
    return forms.form_validate(form, filled)  # the demo's data is what the portal would accept


def _step(case: Case, clerk: Account | None, action: str, *, on: dt.date | None = None, **extra: Any) -> Case:
    return cases.case_act(actor=clerk, case_id=str(case.public_id), action=action, expected_version=case.version, on=on, **extra)


def load_stories() -> int:
    """Cases of several citizens at several departments, one in each state of the machine, two
    past their legal limit (red) and one on its last day (yellow). Each (applicant, implementation)
    has one story: loading again finds it and makes nothing."""
    today = _today()
    made = 0
    for username, division, item, story, data in STORIES:
        applicant = _account(username)
        impl = _impl(item, division)
        if applicant is None or impl is None:
            continue
        if Case.objects.filter(applicant=applicant, implementation=impl, bundle_application__isnull=True).exists():
            continue
        clerk = _clerk(impl)
        draft = forms.case_save_draft(
            applicant=applicant, implementation=impl, data=_filled(applicant, impl, data, partial=story == "draft")
        )
        made += 1
        if made <= 3:
            _attach_sample(applicant, draft)
        if story == "draft":
            continue
        case = cases.case_submit(applicant=applicant, case_id=str(draft.public_id))
        if story == "submitted":
            continue
        if story == "correcting":
            names = list(impl.base.materials.values_list("name", flat=True))[:2]
            reasons = ["照片模糊，请重新拍摄上传清晰的原件照片", "缺少本人签名，请签名后重新上传"]
            cases.correction_notice(
                actor=clerk,  # type: ignore[arg-type]
                case_id=str(case.public_id),
                expected_version=case.version,
                problems=[{"material": name, "reason": reason} for name, reason in zip(names, reasons, strict=False)],
            )
            continue
        if story == "refused":
            _step(case, clerk, "refuse", opinion=OPINIONS["refused"])
            continue
        if story == "withdrawn":
            cases.case_act(
                actor=applicant,
                case_id=str(case.public_id),
                action="withdraw",
                expected_version=case.version,
                actor_kind="applicant",
                opinion="已在户籍地窗口办理，撤回网上申请。",
            )
            continue
        accepted_on = today
        if story == "red":
            accepted_on = _working_days_before(today, impl.legal_limit + 2)
        elif story == "yellow":  # the limit is the next working day (today on a working day)
            accepted_on = _working_days_before(_next_workday(today), impl.legal_limit)
        elif story in ("decided", "concluded", "delivered"):
            accepted_on = _working_days_before(today, min(5, max(1, impl.legal_limit - 1)))
        case = _step(case, clerk, "accept", on=accepted_on)
        if story == "supplementing":
            _step(case, clerk, "ask_supplement", opinion=OPINIONS["supplementing"])
        elif story == "suspended":
            _step(case, clerk, "suspend", opinion=OPINIONS["suspended"], special_step=4)
        elif story in ("decided", "concluded", "delivered"):
            case = _step(case, clerk, "approve")
            if story != "decided":
                case = _step(case, clerk, "conclude")
            if story == "delivered":
                _step(case, clerk, "deliver")
    return made


# --- bundles in progress ---------------------------------------------------------------------------------

# applicant, bundle, division of each item's implementation, form data, items to take to the end (准予, 办结)
BUNDLE_STORIES = [
    (
        "citizen.zhang",
        "new-car",
        {"010100004000": "360100", "070100012000": "360100"},
        {
            "vin": "LSVAU2180N2123456",
            "model": "大众牌 SVW71810BU",
            "use": "非营运",
            "invoice_no": "03600123",
            "plate_way": "互联网自选号牌",
        },
        ["010100004000"],
    ),
    (
        "citizen.sun",
        "birth",
        {"200400001000": "360102", "070100001000": "360102", "200300001000": "360102", "200200001000": "360102"},
        {"baby_name": "孙小雨", "baby_sex": "女", "birth_date": "2026-11-02", "birth_hospital": "江西省妇幼保健院", "mother_name": "孙丽"},
        ["200400001000"],
    ),
]


def load_bundle_applications() -> int:
    """A bundle of 张晓明 (新车上牌) and one of 孙丽 (出生一件事) under way: the first item concluded,
    the next one submitted by the bundle and being handled, the rest waiting for it."""
    today = _today()
    made = 0
    for username, code, divisions, data, finished in BUNDLE_STORIES:
        applicant = _account(username)
        if applicant is None or BundleApplication.objects.filter(applicant=applicant, bundle__code=code).exists():
            continue
        impls = {item: _impl(item, division) for item, division in divisions.items()}
        if any(impl is None for impl in impls.values()):
            continue
        application = bundles.bundle_apply(
            applicant=applicant,
            bundle_code=code,
            implementations=impls,
            form_data=data,  # type: ignore[arg-type]
        )
        made += 1
        for item in finished:
            case = Case.objects.get(bundle_application=application, implementation=impls[item])
            clerk = _clerk(case.implementation)
            case = _step(case, clerk, "accept", on=_working_days_before(today, 3))
            case = _step(case, clerk, "approve")
            _step(case, clerk, "conclude")  # the bundle submits what depended on it
        started = Case.objects.filter(bundle_application=application, state=machine.State.SUBMITTED).select_related("implementation")
        for case in started[:1]:
            if code == "new-car":
                _step(case, _clerk(case.implementation), "accept")
    return made


# --- sample materials ------------------------------------------------------------------------------------


def _png() -> bytes:
    """A small grey "scan" (PNG) made here: the demo ships no binary files."""
    width, height = 64, 40
    rows = b"".join(b"\x00" + b"".join(bytes([200 if (x // 8 + y // 8) % 2 else 230] * 3) for x in range(width)) for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _attach_sample(applicant: Account, draft: Case) -> None:
    """The first required material of the item as a small PNG, uploaded by the applicant."""
    material = draft.implementation.base.materials.order_by("sort", "id").first()
    if material is None or getattr(material, "form", "") == "paper":
        return
    upload = ContentFile(_png(), name=f"{material.name}.png")
    materials.material_attach(actor=applicant, case=draft, material_id=material.pk, upload=upload)
