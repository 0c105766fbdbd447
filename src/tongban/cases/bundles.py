"""One thing done once (一件事一次办): one application for a bundle of items. Every included item
gets a case; items without prerequisites are submitted at once, the others wait as drafts until
every prerequisite has concluded with approval. When a part fails (refused, withdrawn, not
permitted) the bundle's policy decides: the parts needing it are withdrawn with the reason while
the others continue, or they wait while the applicant applies for the failed part again
(``bundle_reapply``). An item's latest case is the one that counts."""

from __future__ import annotations

import uuid
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
