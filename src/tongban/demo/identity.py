"""The demo province's people and applications: citizens at each real-name level, staff of several
departments and levels with their roles and a second factor, and a demo application that signs
people in through the platform.

Staff need a TOTP code to sign in. Demo staff are enrolled with fixed secrets derived from their
username (``staff.demo_totp_secret``) that ``tongban demo`` prints: add one to an authenticator app,
or print the current code with ``tongban demo --totp-code USERNAME``. These secrets, the passwords
and the demo application's secret are public: never load the demo on a real platform.

Loading twice changes nothing the second time (no new rows, no new audit rows).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from tongban.common.audit import audit_record
from tongban.identity import applications, staff
from tongban.identity import services as identity
from tongban.identity.models import Account, OidcApplication, RealNameEvent, RealNameLevel, StaffRole
from tongban.org.models import Department

SYSTEM = None
DEMO_APP_NAME = "演示应用"
DEMO_APP_CLIENT_ID = "tongban-demo-app"
DEMO_APP_SECRET = "DemoOidcSecret-NotForProduction-0001"
DEMO_APP_REDIRECT = "http://127.0.0.1:8000/demo/oidc/callback"
DEMO_APP_POST_LOGOUT = "http://127.0.0.1:8000/"

# username, name, mobile, ID number, level, how the level was reached
CITIZENS = [
    ("citizen.wang", "王芳", "13800138001", "", RealNameLevel.L1, RealNameEvent.Method.MOBILE),
    ("citizen.zhao", "赵刚", "13800138002", "360102198506121237", RealNameLevel.L2, RealNameEvent.Method.POPULATION),
    ("citizen.sun", "孙丽", "13800138003", "36010219890304241X", RealNameLevel.L3, RealNameEvent.Method.FACE),
    ("citizen.zhou", "周强", "13800138004", "360121199209180058", RealNameLevel.L4, RealNameEvent.Method.HALL),
]
LEVEL_LABELS = dict(RealNameLevel.choices)

# username, name, division code, department kind, roles, label for the printout
STAFF = [
    ("police.donghu", "东湖区公安分局窗口 陈静", "360102", "公安", [StaffRole.Role.WINDOW_CLERK], "县级窗口受理人员"),
    ("admin.donghu", "东湖区市场监管局 刘洋", "360102", "市场监管", [StaffRole.Role.DEPT_ADMIN], "县级部门管理员"),
    ("reviewer.nanchang", "南昌市公安局审核 黄磊", "360100", "公安", [StaffRole.Role.REVIEWER], "市级审核人员"),
    ("approver.nanchang", "南昌市市场监管局审批 吴芳", "360100", "市场监管", [StaffRole.Role.APPROVER], "市级审批人员"),
    ("approver.hrss", "省人社厅 郑凯", "360000", "人社", [StaffRole.Role.REVIEWER, StaffRole.Role.APPROVER], "省级审核审批人员"),
]


@dataclass
class DemoApplication:
    name: str
    client_id: str
    client_secret: str
    redirect_uri: str
    scopes: str


def _department(division_code: str, kind: str) -> Department | None:
    return Department.objects.filter(division__code=division_code, kind=kind).first()


def set_level(account: Account, level: int, method: str) -> None:
    """The demo person's level as if they had gone through the checks (idempotent)."""
    if account.real_name_level == level:
        return
    with transaction.atomic():
        before = account.real_name_level
        RealNameEvent.objects.create(account=account, level_from=before, level_to=level, method=method, provider_reference="演示数据")
        account.real_name_level = level
        fields = ["real_name_level"]
        if account.mobile_sealed and account.mobile_verified_at is None:
            account.mobile_verified_at = timezone.now()
            fields.append("mobile_verified_at")
        account.save(update_fields=fields)
        audit_record(
            actor=SYSTEM,
            action="identity.realname_level",
            object_type="account",
            object_id=str(account.public_id),
            before={"level": before},
            after={"level": level, "method": method},
            reason="演示数据",
        )


def load_citizens(password: str) -> list[tuple[Account, str]]:
    people = []
    for username, name, mobile, id_number, level, method in CITIZENS:
        account = identity.citizen_account_upsert(
            actor=SYSTEM, username=username, password=password, display_name=name, mobile=mobile, id_number=id_number
        )
        set_level(account, level, method)
        people.append((account, str(LEVEL_LABELS[level])))
    return people


def prepare_staff(account: Account) -> str:
    """A demo staff account ready to sign in: its persona role and a known TOTP secret. Returns
    the secret."""
    staff.persona_role(account=account)
    secret = staff.demo_totp_secret(account.username)
    staff.totp_enrol_known_secret(actor=SYSTEM, account=account, secret=secret)
    return secret


def load_staff(password: str) -> list[tuple[Account, str, str]]:
    """Staff of several departments and levels. Returns (account, role label, TOTP secret)."""
    loaded = []
    for username, name, division_code, kind, roles, label in STAFF:
        department = _department(division_code, kind)
        if department is None:
            continue
        account = identity.staff_account_upsert(
            actor=SYSTEM, username=username, password=password, display_name=name, kind="staff", department=department
        )
        for role in roles:
            staff.system_role_grant(account=account, role=role, department=department)
        secret = staff.demo_totp_secret(username)
        staff.totp_enrol_known_secret(actor=SYSTEM, account=account, secret=secret)
        loaded.append((account, label, secret))
    return loaded


def load_application() -> DemoApplication:
    app = OidcApplication.objects.filter(client_id=DEMO_APP_CLIENT_ID).first()
    if app is None:
        data = applications.AppData(
            name=DEMO_APP_NAME,
            redirect_uris=[DEMO_APP_REDIRECT],
            post_logout_redirect_uris=[DEMO_APP_POST_LOGOUT],
            backchannel_logout_uri="",
            scopes=["openid", "profile", "phone"],
        )
        app, _secret = applications.application_create(actor=SYSTEM, data=data, client_id=DEMO_APP_CLIENT_ID, client_secret=DEMO_APP_SECRET)
    return DemoApplication(app.name, app.client_id, DEMO_APP_SECRET, DEMO_APP_REDIRECT, app.allowed_scopes)
