"""One thing done once (一件事一次办): one application for a bundle of items. Every included item
gets a case; items without prerequisites are submitted at once, the others wait as drafts until
every prerequisite has concluded with approval, and are withdrawn (with the reason) if one fails."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from tongban.cases import machine
from tongban.cases.models import BundleApplication, Case
from tongban.catalog.models import Bundle, Implementation
from tongban.common.audit import audit_record
from tongban.common.errors import NotFound, ValidationFailed
from tongban.identity.models import Account

APPROVED = 0  # conclusion code 出证办结（准予）
FAILED_STATES = frozenset({machine.State.REFUSED, machine.State.WITHDRAWN})


def bundle_apply(
    *,
    applicant: Account,
    bundle_code: str,
    implementations: dict[str, Implementation],
    include_optional: set[str] | None = None,
    form_data: dict[str, Any] | None = None,
) -> BundleApplication:
    """Apply for a bundle. ``implementations`` maps each included item's base code to the
    implementation (department and place) that will handle it."""
    from tongban.cases import services

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
            Case.objects.create(applicant=applicant, implementation=impl, form_data=form_data or {}, bundle_application=application)
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


def _ready(application: BundleApplication) -> list[Case]:
    """Drafts of the bundle whose prerequisites have all concluded with approval."""
    cases = list(Case.objects.filter(bundle_application=application).select_related("implementation__base"))
    by_item = {c.implementation.base.code: c for c in cases}
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

    cases = list(Case.objects.filter(bundle_application=application).select_related("implementation__base"))
    by_item = {c.implementation.base.code: c for c in cases}
    needs = _prerequisites(application)
    for case in cases:
        if case.state != machine.State.DRAFT:
            continue
        failed = [
            by_item[code].implementation.base.name
            for code in needs.get(case.implementation.base.code, set())
            if code in by_item and (by_item[code].state in FAILED_STATES or by_item[code].conclusion not in (None, APPROVED))
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
