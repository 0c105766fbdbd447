"""One thing done once (一件事一次办): one application for a bundle of items. Every included item
gets a case; items without prerequisites are submitted at once, the others wait as drafts until
every prerequisite has concluded with approval. When a part fails (refused, withdrawn, not
permitted) the bundle's policy decides: the parts needing it are withdrawn with the reason while
the others continue, or they wait while the applicant applies for the failed part again
(``bundle_reapply``). An item's latest case is the one that counts."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from tongban.cases import machine
from tongban.cases.models import BundleApplication, Case
from tongban.catalog.models import Bundle, Implementation, Material
from tongban.common.audit import audit_record
from tongban.common.errors import NotFound, ValidationFailed
from tongban.identity.models import Account

APPROVED = 0  # conclusion code 出证办结（准予）
FAILED_STATES = frozenset({machine.State.REFUSED, machine.State.WITHDRAWN})


@dataclasses.dataclass
class BundlePlan:
    """What one application for a bundle asks: the included items with the implementation that
    will handle each, one merged form (a field several items share is asked once) and one
    deduplicated list of materials (by name)."""

    bundle: Bundle
    parts: list[tuple[Any, Implementation | None]]  # (BundleItem, its implementation here or None)
    optional: list[Any]  # the optional BundleItems, to offer
    fields: dict[str, dict[str, Any]]  # merged schema properties, in order
    required: set[str]
    prefills: dict[str, str]  # field -> what the platform fills it with
    materials: list[Material]  # one per name, to upload once for every part that needs it

    @property
    def missing(self) -> list[str]:
        return [entry.item.name for entry, impl in self.parts if impl is None]

    @property
    def implementations(self) -> dict[str, Implementation]:
        return {entry.item.code: impl for entry, impl in self.parts if impl is not None}


def bundle_plan(*, bundle: Bundle, implementation_for: Any, include_optional: set[str] | None = None) -> BundlePlan:
    """The plan of an application for ``bundle``; ``implementation_for(base_item)`` says which
    implementation handles an item where the applicant applies (None: not offered there)."""
    from tongban.cases.forms import form_current, ordered, prefill_fields

    include_optional = include_optional or set()
    entries = list(bundle.items.select_related("item").prefetch_related("depends_on__item"))
    parts = [(e, implementation_for(e.item)) for e in entries if not e.optional or e.item.code in include_optional]
    fields: dict[str, dict[str, Any]] = {}
    required: set[str] = set()
    prefills: dict[str, str] = {}
    materials: dict[str, Material] = {}
    for _entry, impl in parts:
        if impl is None:
            continue
        form = form_current(impl)
        if form is not None:
            schema, _layout = ordered(form.schema, form.layout)
            for name, spec in schema.get("properties", {}).items():
                fields.setdefault(name, spec)
            required |= set(form.schema.get("required", []))
            prefills.update(prefill_fields(form))
        for material in impl.base.materials.all():
            materials.setdefault(material.name, material)
    return BundlePlan(
        bundle=bundle,
        parts=parts,
        optional=[e for e in entries if e.optional],
        fields=fields,
        required=required,
        prefills=prefills,
        materials=list(materials.values()),
    )


def needs_upload(material: Material) -> bool:
    """A material the applicant must upload: required, not paper-only, not filled by an e-licence."""
    return material.need == "required" and material.form != "paper" and not material.license_type


def form_of(implementation: Implementation | None) -> Any:
    from tongban.cases.forms import form_current

    return form_current(implementation) if implementation is not None else None


def bundle_submit(
    *,
    applicant: Account,
    plan: BundlePlan,
    data: dict[str, Any],
    uploads: dict[str, Any],
    query_password: str,
    commitment: bool,
) -> BundleApplication:
    """One submission for the whole bundle: the merged form checked against every part's form (with
    what the platform fills), each material uploaded once and kept with every part that lists it,
    one query password for all parts, the commitment where a part asks for it; then the parts start
    in the order of their dependencies. Nothing is kept when anything is wrong."""
    from django.contrib.auth.hashers import make_password

    from tongban.cases import materials as case_materials
    from tongban.cases.forms import DEFAULT_COMMITMENT, PASSWORD_MAX, PASSWORD_MIN, form_current, form_validate, prefill
    from tongban.cases.models import CaseMaterial

    if plan.missing:
        raise ValidationFailed(f"以下事项在所选地区没有可办理的实施清单：{'、'.join(plan.missing)}。", code="bundle_not_offered")
    errors: dict[str, str] = {}
    per_case: dict[str, dict[str, Any]] = {}
    wants_commitment = False
    for entry, impl in plan.parts:
        assert impl is not None
        form = form_current(impl)
        if form is None:
            per_case[entry.item.code] = {}
            continue
        wants_commitment = wants_commitment or bool(form.layout.get("commitment"))
        try:
            per_case[entry.item.code] = form_validate(form, {**data, **prefill(form, applicant)})
        except ValidationFailed as exc:
            errors.update(exc.details["fields"])
    if wants_commitment and not commitment:
        errors["commitment"] = "请阅读并勾选承诺书后再提交。"
    if not PASSWORD_MIN <= len(query_password or "") <= PASSWORD_MAX:
        errors["query_password"] = f"请设置 {PASSWORD_MIN}–{PASSWORD_MAX} 位查询密码。"
    missing = [m.name for m in plan.materials if needs_upload(m) and not uploads.get(m.name)]
    if missing:
        errors["materials"] = case_materials.missing_text(missing)
    if errors:
        raise ValidationFailed("有些内容需要修改，请按提示修改后再提交。", code="form_invalid", details={"fields": errors})
    with transaction.atomic():
        stored = {}
        for name, upload in uploads.items():
            if upload:
                stored[name] = case_materials.store_file(upload=upload, owner=applicant, uploaded_by=applicant)
        application = bundle_apply(
            applicant=applicant,
            bundle_code=plan.bundle.code,
            implementations=plan.implementations,
            include_optional={e.item.code for e, _i in plan.parts if e.optional},
            form_data=data,
            per_case_data=per_case,
            query_password_hash=make_password(query_password),
            commitment_text=DEFAULT_COMMITMENT if wants_commitment else "",
            before_start=lambda case: [
                CaseMaterial.objects.create(case=case, material=m, name=m.name, source=CaseMaterial.Source.UPLOAD, file=stored[m.name])
                for m in case.implementation.base.materials.all()
                if m.name in stored
            ],
        )
    for case in Case.objects.filter(bundle_application=application).exclude(code=None):
        case_materials.licence_slots_record(case)
    return application


def bundle_apply(
    *,
    applicant: Account,
    bundle_code: str,
    implementations: dict[str, Implementation],
    include_optional: set[str] | None = None,
    form_data: dict[str, Any] | None = None,
    per_case_data: dict[str, dict[str, Any]] | None = None,
    query_password_hash: str = "",
    commitment_text: str = "",
    before_start: Any = None,
) -> BundleApplication:
    """Apply for a bundle. ``implementations`` maps each included item's base code to the
    implementation (department and place) that will handle it; ``per_case_data`` the clean form
    data of each item's own form; ``before_start(case)`` runs for each part before any starts."""
    from tongban.cases import services
    from tongban.cases.forms import form_current

    bundle = Bundle.objects.filter(code=bundle_code, status="published").first()
    if bundle is None:
        raise NotFound("没有这个“一件事”。", code="bundle_unknown")
    include_optional = include_optional or set()
    entries = list(bundle.items.select_related("item").prefetch_related("depends_on__item"))
    included = [e for e in entries if not e.optional or e.item.code in include_optional]
    missing = [e.item.name for e in included if e.item.code not in implementations]
    if missing:
        raise ValidationFailed(f"以下事项在所选地区没有可办理的实施清单：{'、'.join(missing)}。", code="bundle_not_offered")
    with transaction.atomic():
        application = BundleApplication.objects.create(
            bundle=bundle, applicant=applicant, form_data=form_data or {}, submitted_at=timezone.now()
        )
        for entry in included:
            impl = implementations[entry.item.code]
            if impl.base_id != entry.item.pk:
                raise ValidationFailed(f"“{entry.item.name}”的实施清单不对应该事项。", code="bundle_wrong_implementation")
            case = Case.objects.create(
                applicant=applicant,
                implementation=impl,
                form=form_current(impl),
                form_data=(per_case_data or {}).get(entry.item.code, form_data or {}),
                bundle_application=application,
                query_password_hash=query_password_hash,
                commitment_text=commitment_text,
                commitment_signed_at=timezone.now() if commitment_text else None,
            )
            if before_start is not None:
                before_start(case)
        audit_record(
            actor=applicant,
            action="bundle.apply",
            object_type="bundle_application",
            object_id=str(application.public_id),
            after={"bundle": bundle_code, "items": [e.item.code for e in included]},
        )
        for case in _ready(application):
            services.case_submit(applicant=applicant, case_id=str(case.public_id))
    return application


def _prerequisites(application: BundleApplication) -> dict[str, set[str]]:
    return {
        entry.item.code: {d.item.code for d in entry.depends_on.all()}
        for entry in application.bundle.items.select_related("item").prefetch_related("depends_on__item")
    }


def _latest(application: BundleApplication) -> tuple[list[Case], dict[str, Case]]:
    """The bundle's cases, and each item's latest case (a reapplication replaces a failed one)."""
    cases = list(Case.objects.filter(bundle_application=application).select_related("implementation__base").order_by("id"))
    return cases, {c.implementation.base.code: c for c in cases}


def _failed(case: Case) -> bool:
    return case.state in FAILED_STATES or case.conclusion not in (None, APPROVED)


def _ready(application: BundleApplication) -> list[Case]:
    """Drafts of the bundle whose prerequisites have all concluded with approval."""
    cases, by_item = _latest(application)
    needs = _prerequisites(application)
    ready = []
    for case in cases:
        if case.state != machine.State.DRAFT:
            continue
        before = [by_item.get(code) for code in needs.get(case.implementation.base.code, set())]
        if all(c is None or (c.conclusion == APPROVED and c.state in (machine.State.CONCLUDED, machine.State.DELIVERED)) for c in before):
            ready.append(case)
    return ready


def bundle_advance(application: BundleApplication) -> None:
    """After a case of the bundle moved: submit what became ready; withdraw what can no longer be
    done because a prerequisite failed (refused, withdrawn or not permitted)."""
    from tongban.cases import services

    cases, by_item = _latest(application)
    needs = _prerequisites(application)
    waits = application.bundle.on_part_failed == Bundle.OnPartFailed.WAIT
    for case in cases:
        if case.state != machine.State.DRAFT or waits:
            continue
        failed = [
            by_item[code].implementation.base.name
            for code in needs.get(case.implementation.base.code, set())
            if code in by_item and _failed(by_item[code])
        ]
        if failed:
            services.case_act(
                actor=None,
                case_id=str(case.public_id),
                action="withdraw",
                expected_version=case.version,
                actor_kind="applicant",
                opinion=f"前置事项未通过：{'、'.join(failed)}",
            )
    for case in _ready(application):
        services.case_submit(applicant=application.applicant, case_id=str(case.public_id))


def bundle_reapply(*, applicant: Account, application_id: str, item_code: str) -> Case:
    """Apply again for a failed part of a bundle whose policy is to wait: a new case for the same
    item and implementation, submitted at once; the parts waiting for it go on once it is approved."""
    from tongban.cases import services

    try:
        uuid.UUID(str(application_id))
    except ValueError:
        raise NotFound("没有找到这份“一件事”申请。", code="bundle_application_unknown") from None
    with transaction.atomic():
        application = (
            BundleApplication.objects.select_for_update()
            .select_related("bundle")
            .filter(public_id=application_id, applicant=applicant)
            .first()
        )
        if application is None:
            raise NotFound("没有找到这份“一件事”申请。", code="bundle_application_unknown")
        if application.bundle.on_part_failed != Bundle.OnPartFailed.WAIT:
            raise ValidationFailed("这个“一件事”不支持重新申请未通过的事项，请单独申请。", code="bundle_no_reapply")
        _cases, by_item = _latest(application)
        previous = by_item.get(item_code)
        if previous is None:
            raise NotFound("这份申请中没有这个事项。", code="bundle_item_unknown")
        if not _failed(previous):
            raise ValidationFailed("只有未通过的事项才能重新申请。", code="bundle_part_not_failed")
        case = Case.objects.create(
            applicant=applicant,
            implementation=previous.implementation,
            form_data=application.form_data,
            bundle_application=application,
        )
        audit_record(
            actor=applicant,
            action="bundle.reapply",
            object_type="bundle_application",
            object_id=str(application.public_id),
            after={"item": item_code, "replaces": str(previous.public_id)},
        )
        if case in _ready(application):
            services.case_submit(applicant=applicant, case_id=str(case.public_id))
        case.refresh_from_db()
    return case
