"""Application forms (申请表): an implementation's versioned JSON Schema with layout hints, a small
validator for the subset the platform supports, prefill from the applicant's verified identity,
and applying online (draft → validated submission with its code) and looking a case up by its code
and query password.

Supported schema subset: an object whose ``properties`` each have ``type`` string, integer or
boolean, optionally ``enum``, ``maxLength`` and ``pattern`` (strings), ``title`` (the label), and
a top-level ``required`` list. Layout: ``steps`` ([{"title", "fields"}]) or one page;
``fields`` ({name: {"prefill": "name"|"id_number"|"mobile", "hint": "..."}}); ``commitment``
(告知承诺制) with an optional ``commitment_text``."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from tongban.cases import machine, materials
from tongban.cases.models import ApplicationForm, Case
from tongban.cases.services import case_submit
from tongban.catalog.models import Implementation
from tongban.common.audit import audit_record
from tongban.common.errors import NotFound, PermissionDenied, ValidationFailed
from tongban.identity.enterprises import mandate_allows
from tongban.identity.models import Account, Enterprise

TYPES = ("string", "integer", "boolean")
PREFILLS = {
    "name": "姓名",
    "id_number": "身份证号码",
    "mobile": "手机号码",
    # For an application made for an enterprise, from the legal-person base.
    "enterprise_name": "企业名称",
    "credit_code": "统一社会信用代码",
    "legal_representative": "法定代表人",
}
ENTERPRISE_PREFILLS = frozenset({"enterprise_name", "credit_code", "legal_representative"})
COMMITMENT_MISSING = "请阅读并勾选承诺书后再提交。"
DEFAULT_COMMITMENT = "本人承诺所填写的信息和提交的材料真实、准确、完整，如有虚假，愿意承担相应的法律责任。"
MAX_TEXT = 2000  # a string without its own maxLength is still bounded
PASSWORD_MIN, PASSWORD_MAX = 6, 32
TRUE_WORDS = frozenset({"1", "true", "on", "yes"})


# --- the form definition -------------------------------------------------------------------------------


def schema_problems(schema: Any, layout: Any) -> list[str]:
    """What is wrong with a schema and its layout, in Chinese; empty when they can be used."""
    if not isinstance(schema, dict) or schema.get("type", "object") != "object" or not isinstance(schema.get("properties"), dict):
        return ["表单定义必须是 type 为 object、带 properties 的对象。"]
    props: dict[str, Any] = schema["properties"]
    problems: list[str] = []
    if not props:
        problems.append("表单至少要有一个字段。")
    for name, spec in props.items():
        if not isinstance(spec, dict) or spec.get("type") not in TYPES:
            problems.append(f"字段 {name} 的类型只能是 string、integer 或 boolean。")
            continue
        if "enum" in spec and (not isinstance(spec["enum"], list) or not spec["enum"]):
            problems.append(f"字段 {name} 的 enum 必须是非空列表。")
        if "maxLength" in spec and (not isinstance(spec["maxLength"], int) or spec["maxLength"] < 1):
            problems.append(f"字段 {name} 的 maxLength 必须是正整数。")
        if "pattern" in spec:
            try:
                re.compile(str(spec["pattern"]))
            except re.error:
                problems.append(f"字段 {name} 的 pattern 不是有效的正则表达式。")
    required = schema.get("required", [])
    if not isinstance(required, list) or any(r not in props for r in required):
        problems.append("required 只能列出表单中已有的字段。")
    if not isinstance(layout, dict):
        return [*problems, "布局必须是对象。"]
    steps = layout.get("steps")
    if steps is not None:
        if not isinstance(steps, list) or not steps:
            problems.append("steps 必须是非空列表。")
        else:
            for step in steps:
                fields = step.get("fields") if isinstance(step, dict) else None
                if not isinstance(fields, list) or any(f not in props for f in fields):
                    problems.append("每一步都要列出表单中已有的字段。")
    for name, hints in (layout.get("fields") or {}).items():
        if name not in props:
            problems.append(f"布局中的字段 {name} 不在表单中。")
        elif isinstance(hints, dict) and hints.get("prefill") and hints["prefill"] not in PREFILLS:
            problems.append(f"字段 {name} 的 prefill 只能是 {'、'.join(PREFILLS)} 之一。")
    return problems


def application_form_save(
    *, actor: Account | None, implementation: Implementation, schema: dict[str, Any], layout: dict[str, Any]
) -> ApplicationForm:
    """A new version of the implementation's form; the previous one stops being current (cases keep theirs)."""
    problems = schema_problems(schema, layout)
    if problems:
        raise ValidationFailed("表单定义有误：" + "；".join(problems), code="form_schema_invalid", details={"problems": problems})
    with transaction.atomic():
        previous = list(ApplicationForm.objects.select_for_update().filter(implementation=implementation).values_list("version", flat=True))
        ApplicationForm.objects.filter(implementation=implementation, is_current=True).update(is_current=False)
        form = ApplicationForm.objects.create(
            implementation=implementation,
            version=max(previous, default=0) + 1,
            schema=schema,
            # The properties' order: the layout's own when given (a restored version), else as written.
            layout={**layout, "order": list(ordered(schema, layout)[0]["properties"])},
            is_current=True,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        audit_record(
            actor=actor,
            action="application_form.save",
            object_type="implementation",
            object_id=implementation.code,
            after={"version": form.version},
        )
    return form


def form_current(implementation: Implementation) -> ApplicationForm | None:
    return ApplicationForm.objects.filter(implementation=implementation, is_current=True).order_by("-version").first()


def ordered(schema: dict[str, Any], layout: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The schema with its properties in the order they were written, and the layout. PostgreSQL's
    jsonb does not keep the order of an object's keys, so the order is saved as the layout's
    ``order`` list (arrays keep theirs); fields missing from it follow in stored order."""
    props = schema.get("properties") or {}
    given = layout.get("order")
    order: list[Any] = given if isinstance(given, list) else []
    names = list(dict.fromkeys([*(n for n in order if n in props), *props]))
    return {**schema, "properties": {n: props[n] for n in names}}, layout


def field_names(form: ApplicationForm) -> list[str]:
    return list(ordered(form.schema, form.layout)[0].get("properties", {}))


def field_label(form: ApplicationForm, name: str) -> str:
    return str(form.schema["properties"].get(name, {}).get("title") or name)


def steps_of(form: ApplicationForm) -> list[dict[str, Any]]:
    """The form's steps: the layout's, or one step with every field."""
    steps = form.layout.get("steps")
    if steps:
        return [{"title": str(s.get("title") or f"第 {i} 步"), "fields": list(s["fields"])} for i, s in enumerate(steps, 1)]
    return [{"title": "填写申请信息", "fields": field_names(form)}]


def prefill_fields(form: ApplicationForm) -> dict[str, str]:
    """{field: "name"|"id_number"|"mobile"} for the fields the platform fills."""
    hints = form.layout.get("fields") or {}
    return {name: h["prefill"] for name, h in hints.items() if isinstance(h, dict) and h.get("prefill") in PREFILLS}


# --- validation ----------------------------------------------------------------------------------------


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _clean_one(spec: dict[str, Any], label: str, value: Any) -> tuple[Any, str]:
    """(the clean value, or an error message)."""
    kind = spec.get("type")
    if kind == "boolean":
        clean: Any = value if isinstance(value, bool) else str(value).strip().lower() in TRUE_WORDS
    elif kind == "integer":
        if isinstance(value, bool):
            return None, f"{label}请填写整数。"
        try:
            clean = int(str(value).strip())
        except ValueError:
            return None, f"{label}请填写整数，例如 3。"
    else:
        clean = str(value).strip()
        limit = spec.get("maxLength", MAX_TEXT)
        if len(clean) > limit:
            return None, f"{label}最多 {limit} 个字，现在是 {len(clean)} 个。"
        if "pattern" in spec and not re.search(str(spec["pattern"]), clean):
            return None, f"{label}的格式不对，请检查后重新填写。"
    if "enum" in spec and clean not in spec["enum"]:
        return None, f"请从给出的选项中选择{label}。"
    return clean, ""


def form_validate(form: ApplicationForm, data: dict[str, Any], *, only: list[str] | None = None) -> dict[str, Any]:
    """The clean data of the form's fields (``only`` some of them, for one step). Unknown keys are
    dropped. Raises ValidationFailed with {"fields": {name: message}} in ``details``."""
    props: dict[str, Any] = form.schema.get("properties", {})
    required = set(form.schema.get("required", []))
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in only if only is not None else props:
        spec = props.get(name)
        if spec is None:
            continue
        label = field_label(form, name)
        value = data.get(name)
        if spec.get("type") != "boolean" and _empty(value):
            if name in required:
                errors[name] = f"请{'选择' if 'enum' in spec else '填写'}{label}。"
            continue
        if spec.get("type") == "boolean" and value is None:
            value = False
        result, error = _clean_one(spec, label, value)
        if error:
            errors[name] = error
        else:
            clean[name] = result
        if spec.get("type") == "boolean" and name in required and result is not True:
            errors[name] = f"请确认{label}。"
    if errors:
        raise ValidationFailed("有些内容需要修改，请按提示修改后再提交。", code="form_invalid", details={"fields": errors})
    return clean


def form_check(
    form: ApplicationForm, filled: dict[str, Any], *, commitment: bool, commitment_error: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """The clean data of a whole form and every problem with it by field (the commitment's too,
    where the form asks for one), so a page can show them all at once."""
    errors: dict[str, str] = {}
    try:
        clean = form_validate(form, filled)
    except ValidationFailed as exc:
        errors.update(exc.details["fields"])
        clean = {}
    if form.layout.get("commitment") and not commitment:
        errors["commitment"] = commitment_error
    return clean, errors


def prefill(form: ApplicationForm, account: Account, enterprise: Enterprise | None = None) -> dict[str, str]:
    """What the platform already knows, from the verified identity: the applicant never types it.
    Name and ID number only once verified (L2 and up); the mobile once it is on the account; an
    enterprise's name, credit code and legal representative when applying for it (checked against
    the legal-person base when the enterprise was bound)."""
    known = {
        "name": account.display_name if account.real_name_level >= 2 else "",
        "id_number": account.id_number if account.real_name_level >= 2 else "",
        "mobile": account.mobile,
        "enterprise_name": enterprise.name if enterprise else "",
        "credit_code": enterprise.credit_code if enterprise else "",
        "legal_representative": enterprise.legal_rep_name if enterprise else "",
    }
    return {name: known[kind] for name, kind in prefill_fields(form).items()}


def _draft_data(form: ApplicationForm, data: dict[str, Any]) -> dict[str, Any]:
    """What a draft keeps: the form's fields as typed (bounded), nothing else."""
    kept: dict[str, Any] = {}
    for name in field_names(form):
        if name in data and data[name] is not None:
            value = data[name]
            kept[name] = value if isinstance(value, bool | int) else str(value)[:MAX_TEXT]
    return kept


# --- applying ------------------------------------------------------------------------------------------


def _token(token: str | None) -> uuid.UUID:
    try:
        return uuid.UUID(str(token)) if token else uuid.uuid4()
    except ValueError:
        raise NotFound("没有找到这份申请。", code="case_unknown") from None


def _own_draft(*, applicant: Account, implementation: Implementation, form: ApplicationForm, token: str | None) -> Case:
    """The draft this apply form belongs to. The form carries the case's own id as its token, so
    posting the same form twice reaches the same case (and submitting it again has no effect)."""
    key = _token(token)
    case = Case.objects.filter(public_id=key, applicant=applicant).first()
    if case is None:
        try:
            with transaction.atomic():
                # A draft moves nothing (like services.case_draft); created here to carry the token.
                case = Case.objects.create(public_id=key, applicant=applicant, implementation=implementation, form=form)
        except IntegrityError:  # the same form posted twice at once, or someone else's id
            case = Case.objects.filter(public_id=key, applicant=applicant).first()
    if case is None or case.implementation_id != implementation.pk:
        raise NotFound("没有找到这份申请。", code="case_unknown")
    return case


def _check_enterprise(form: ApplicationForm, applicant: Account, implementation: Implementation, enterprise: Enterprise | None) -> None:
    """An application for an enterprise needs a live mandate covering the item; a form that asks
    for an enterprise's particulars needs an enterprise."""
    if enterprise is not None and not mandate_allows(applicant, enterprise.credit_code, implementation.code):
        raise PermissionDenied("您当前没有代表该企业办理此事项的授权，请联系企业的法定代表人或管理员。", code="mandate_missing")
    if enterprise is None and ENTERPRISE_PREFILLS & set(prefill_fields(form).values()):
        raise ValidationFailed("本事项需以企业身份申请：请先在“我的企业”中切换为代表企业办事。", code="enterprise_required")


def case_save_draft(*, applicant: Account, implementation: Implementation, data: dict[str, Any], token: str | None = None) -> Case:
    """保存草稿: keep what was typed so far (unvalidated) on a draft the applicant can resume."""
    form = form_current(implementation)
    if form is None:
        raise NotFound("该事项暂未开通在线申请。", code="form_unknown")
    case = _own_draft(applicant=applicant, implementation=implementation, form=form, token=token)
    if case.state == machine.State.DRAFT:
        Case.objects.filter(pk=case.pk, state=machine.State.DRAFT).update(
            form=form, form_data=_draft_data(form, data), updated_at=timezone.now()
        )
        case.refresh_from_db()
    return case


def case_apply(
    *,
    applicant: Account,
    implementation: Implementation,
    data: dict[str, Any],
    commitment: bool = False,
    query_password: str = "",
    token: str | None = None,
    enterprise: Enterprise | None = None,
) -> Case:
    """Validate and submit an online application; returns the case with its 43-character code.
    Fields the platform fills are re-filled here whatever was posted. Applying twice with the same
    token returns the first case. ``enterprise``: the application is made for it, under a mandate
    that must cover this item now."""
    form = form_current(implementation)
    if form is None:
        raise NotFound("该事项暂未开通在线申请。", code="form_unknown")
    if token:
        existing = Case.objects.filter(public_id=_token(token), applicant=applicant).exclude(state=machine.State.DRAFT).first()
        if existing is not None:
            return existing
    _check_enterprise(form, applicant, implementation, enterprise)
    filled = {**data, **prefill(form, applicant, enterprise)}
    clean, errors = form_check(form, filled, commitment=commitment, commitment_error=COMMITMENT_MISSING)
    wants_commitment = bool(form.layout.get("commitment"))
    password = query_password or ""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        errors["query_password"] = f"请设置 {PASSWORD_MIN}–{PASSWORD_MAX} 位查询密码。"
    draft = Case.objects.filter(public_id=_token(token), applicant=applicant).first() if token else None
    missing = materials.materials_missing_for(implementation.pk, draft)
    if missing:
        errors["materials"] = materials.missing_text(missing)
    if errors:
        raise ValidationFailed("有些内容需要修改，请按提示修改后再提交。", code="form_invalid", details={"fields": errors})
    with transaction.atomic():
        case = _own_draft(applicant=applicant, implementation=implementation, form=form, token=token)
        case = Case.objects.select_for_update().get(pk=case.pk)
        if case.state != machine.State.DRAFT:
            return case
        missing = materials.materials_missing(case)  # again under the lock: a file removed meanwhile
        if missing:
            raise ValidationFailed(
                "有些内容需要修改，请按提示修改后再提交。",
                code="form_invalid",
                details={"fields": {"materials": materials.missing_text(missing)}},
            )
        case.form = form
        case.form_data = clean
        case.enterprise = enterprise
        case.query_password_hash = make_password(password)
        if wants_commitment:
            case.commitment_text = str(form.layout.get("commitment_text") or DEFAULT_COMMITMENT)
            case.commitment_signed_at = timezone.now()
        fields = ["form", "form_data", "enterprise", "query_password_hash", "commitment_text", "commitment_signed_at", "updated_at"]
        case.save(update_fields=fields)
        submitted = case_submit(applicant=applicant, case_id=str(case.public_id))
        materials.licence_slots_record(submitted)  # the slots an e-licence fills, kept with the case
        return submitted


_DUMMY_HASH: list[str] = []


def case_lookup(code: str, password: str) -> Case | None:
    """The case with this code if the query password matches, else None. The same work (one query,
    one password check) whether the code exists or not, so timing tells nothing."""
    code = (code or "").strip()[:43]
    case = Case.objects.select_related("implementation__base").filter(code=code).exclude(query_password_hash="").first() if code else None
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(make_password("tongban-not-a-password"))
    ok = check_password(password or "", case.query_password_hash if case else _DUMMY_HASH[0])
    return case if case is not None and ok else None
