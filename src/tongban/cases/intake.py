"""One-window intake (综合窗口): a window clerk registers an in-person application for a citizen.

The clerk checks the citizen's ID card at the counter, picks an implementation of a department they
are a window clerk of, fills the application form, scans the materials (or records paper received)
and submits. The case gets its registration code, channel 窗口 and ``intake_by`` the clerk, and goes
to the department's queue like any online case. The citizen is found by ID number through its blind
index; one the platform does not know yet gets an account the way the account library creates one
(``identity.accounts_import``: no password, L1 when a mobile number is given): they sign in later
with that mobile number. A query password is generated for the printed receipt and only its hash is
kept.

The form carries a token that becomes the case's id, so posting it twice (a double click, a
reload) registers one case: the second post returns the first case.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from tongban.cases import assign, machine, materials
from tongban.cases.forms import DEFAULT_COMMITMENT, form_check, form_current, prefill_fields
from tongban.cases.models import ApplicationForm, Case, CaseMaterial
from tongban.cases.services import case_submit
from tongban.catalog.models import Implementation, Material
from tongban.common.audit import audit_record
from tongban.common.codes import is_valid_ric
from tongban.common.errors import NotFound, PermissionDenied, ValidationFailed
from tongban.common.masking import mask_id_number, mask_name
from tongban.identity import access
from tongban.identity.accounts_import import CONFLICT, MOBILE, import_rows
from tongban.identity.models import Account, StaffRole
from tongban.identity.services import account_find_by_id_number

SOURCE = "综合窗口现场申请"
PASSWORD_DIGITS = 6
INVALID = "有些内容需要修改，请按提示修改后再提交。"


def intake_implementations(clerk: Any) -> list[Implementation]:
    """The published implementations of the departments ``clerk`` is a window clerk of."""
    departments = access.departments_for(clerk, StaffRole.Role.WINDOW_CLERK)
    return list(
        Implementation.objects.filter(department__in=departments.values("pk"), status="published")
        .select_related("base", "department")
        .order_by("department__name", "base__name")[:500]
    )


def intake_implementation(clerk: Any, code: str) -> Implementation:
    """One implementation the clerk may register applications for (else NotFound)."""
    found = next((impl for impl in intake_implementations(clerk) if impl.code == code), None) if code else None
    if found is None:
        raise NotFound("没有找到这个事项，或您不是该部门的窗口受理人员。", code="implementation_unknown")
    return found


def item_materials(implementation: Implementation) -> list[Material]:
    return list(Material.objects.filter(item__implementations=implementation).order_by("sort", "id"))


def _required(m: Material) -> bool:
    return m.need == "required" and not m.license_type


@dataclass
class Person:
    name: str
    id_number: str
    mobile: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def _person(name: str, id_number: str, mobile: str) -> Person:
    person = Person(name=" ".join((name or "").split()), id_number=(id_number or "").strip().upper(), mobile=(mobile or "").strip())
    if not person.name:
        person.errors["applicant_name"] = "请填写申请人姓名（与居民身份证一致）。"
    elif len(person.name) > 64:
        person.errors["applicant_name"] = "姓名最多 64 个字。"
    if not person.id_number:
        person.errors["applicant_id_number"] = "请填写申请人的公民身份号码。"
    elif not is_valid_ric(person.id_number):
        person.errors["applicant_id_number"] = "公民身份号码校验未通过（位数、出生日期或校验码不对），请核对居民身份证。"
    if person.mobile and not MOBILE.match(person.mobile):
        person.errors["applicant_mobile"] = "手机号码格式不正确，应为 11 位中国大陆手机号。"
    return person


def citizen_for_intake(*, clerk: Any, name: str, id_number: str, mobile: str = "") -> Account:
    """The citizen with this ID number, or a new account for them (see the module's docstring).
    The name must match what the platform holds."""
    person = _person(name, id_number, mobile)
    if person.errors:
        raise ValidationFailed(INVALID, code="form_invalid", details={"fields": person.errors})
    found = account_find_by_id_number(person.id_number)
    if found is None:
        report = import_rows(
            actor=clerk, rows=[(1, {"name": person.name, "id_number": person.id_number, "mobile": person.mobile})], source=SOURCE
        )
        row = report.rows[0]
        found = account_find_by_id_number(person.id_number)  # made here, or by a post that won the race
        if row.status == CONFLICT and found is None:
            raise ValidationFailed(INVALID, code="form_invalid", details={"fields": {"applicant_id_number": " ".join(row.messages)}})
        if found is None:  # an inactive account holds this number
            stopped = "该身份号码对应的账号已停用，请联系平台运营人员。"
            raise ValidationFailed(INVALID, code="form_invalid", details={"fields": {"applicant_id_number": stopped}})
    if found.kind != Account.Kind.CITIZEN:
        raise ValidationFailed(
            INVALID, code="form_invalid", details={"fields": {"applicant_id_number": "这个公民身份号码属于工作人员账号，不能作为申请人。"}}
        )
    if found.display_name and found.display_name != person.name:
        raise ValidationFailed(
            INVALID,
            code="form_invalid",
            details={"fields": {"applicant_name": f"姓名与平台记录（{mask_name(found.display_name)}）不一致，请核对居民身份证。"}},
        )
    return found


@dataclass
class IntakeResult:
    case: Case
    query_password: str | None  # only on the post that registered the case
    repeated: bool = False


def _form(implementation: Implementation) -> ApplicationForm:
    form = form_current(implementation)
    if form is None:
        raise NotFound("该事项暂未配置申请表，请联系部门管理员在运营后台配置后再受理。", code="form_unknown")
    return form


def _token(token: str | None) -> uuid.UUID:
    try:
        return uuid.UUID(str(token))
    except ValueError:
        raise ValidationFailed("请求不完整，请重新打开受理页面。", code="token_invalid") from None


def intake_submit(
    *,
    clerk: Any,
    implementation: Implementation,
    token: str,
    applicant_name: str,
    applicant_id_number: str,
    applicant_mobile: str = "",
    data: dict[str, Any],
    scans: dict[int, list[Any]] | None = None,
    paper: list[int] | None = None,
    commitment: bool = False,
    delivery_method: Any = Case.Delivery.WINDOW,
    delivery_address: str = "",
) -> IntakeResult:
    """Register and submit an in-person application (see the module's docstring). ``scans`` maps a
    material's id to the scanned files; ``paper`` lists the materials received on paper."""
    if not access.staff_may(clerk, StaffRole.Role.WINDOW_CLERK, implementation.department_id):
        raise PermissionDenied("只有该部门的窗口受理人员可以登记现场申请。", code="intake_forbidden")
    key = _token(token)
    existing = Case.objects.filter(public_id=key).first()
    if existing is not None:
        if existing.intake_by_id != clerk.pk:
            raise NotFound("没有找到这份申请。", code="case_unknown")
        return IntakeResult(case=existing, query_password=None, repeated=True)
    form = _form(implementation)
    scans = {int(k): [u for u in v if u is not None] for k, v in (scans or {}).items()}
    paper_ids = {int(p) for p in paper or []}
    errors: dict[str, str] = {}
    person = _person(applicant_name, applicant_id_number, applicant_mobile)
    errors.update(person.errors)
    known = {"name": person.name, "id_number": person.id_number, "mobile": person.mobile}
    filled = {**data, **{name: known[kind] for name, kind in prefill_fields(form).items() if known[kind]}}
    clean, form_errors = form_check(form, filled, commitment=commitment, commitment_error="请申请人签署告知承诺书后勾选确认。")
    errors.update(form_errors)
    wants_commitment = bool(form.layout.get("commitment"))
    try:
        method, address = assign._clean_delivery(delivery_method, delivery_address)
    except ValidationFailed as exc:
        errors[f"delivery_{exc.details['field']}"] = exc.message
        method, address = Case.Delivery.WINDOW, ""
    item = item_materials(implementation)
    missing = [m.name for m in item if _required(m) and not scans.get(m.pk) and m.pk not in paper_ids]
    if missing:
        errors["materials"] = f"请扫描或登记收取以下必要材料：{'、'.join(missing)}。"
    if errors:
        raise ValidationFailed(INVALID, code="form_invalid", details={"fields": errors})
    password = "".join(secrets.choice("0123456789") for _ in range(PASSWORD_DIGITS))
    with transaction.atomic():
        applicant = citizen_for_intake(clerk=clerk, name=person.name, id_number=person.id_number, mobile=person.mobile)
        try:
            with transaction.atomic():
                case = Case.objects.create(
                    public_id=key,
                    applicant=applicant,
                    implementation=implementation,
                    form=form,
                    form_data=clean,
                    channel=Case.Channel.WINDOW,
                    intake_by=clerk,
                    delivery_method=method,
                    delivery_address=address,
                    query_password_hash=make_password(password),
                    commitment_text=str(form.layout.get("commitment_text") or DEFAULT_COMMITMENT) if wants_commitment else "",
                    commitment_signed_at=timezone.now() if wants_commitment else None,
                )
        except IntegrityError:  # the same form posted twice at once: the first one stands
            existing = Case.objects.filter(public_id=key, intake_by=clerk).first()
            if existing is None:
                raise
            return IntakeResult(case=existing, query_password=None, repeated=True)
        for m in item:
            for upload in scans.get(m.pk, []):
                materials.material_attach(actor=clerk, case=case, material_id=m.pk, upload=upload, source=CaseMaterial.Source.WINDOW_SCAN)
            if m.pk in paper_ids:
                materials.material_attach(actor=clerk, case=case, material_id=m.pk, source=CaseMaterial.Source.PAPER)
        materials.licence_slots_record(case)
        case = case_submit(applicant=applicant, case_id=str(case.public_id), channel=Case.Channel.WINDOW)
        audit_record(
            actor=clerk,
            action="case.intake",
            object_type="case",
            object_id=str(case.public_id),
            after={
                "code": case.code,
                "applicant": mask_name(applicant.display_name),
                "id_number": mask_id_number(person.id_number),
                "scans": sum(len(v) for v in scans.values()),
                "paper": len(paper_ids),
            },
        )
    return IntakeResult(case=case, query_password=password)


def intake_cases(clerk: Any, *, limit: int = 20) -> list[Case]:
    """The cases the clerk registered lately, newest first (the intake page's list)."""
    return list(
        Case.objects.filter(intake_by=clerk)
        .exclude(state=machine.State.DRAFT)
        .select_related("implementation__base")
        .order_by("-id")[:limit]
    )
