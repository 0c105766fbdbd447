"""One thing done once: bundle definitions with dependencies, and an application whose dependent
parts start only when their prerequisites are approved, and stop when one fails."""

from __future__ import annotations

import pytest

from tests.factories import impl_of
from tongban.cases import services as cases
from tongban.cases.bundles import bundle_apply
from tongban.cases.bundles import bundle_reapply as reapply
from tongban.cases.models import Case
from tongban.catalog import services as catalog
from tongban.common.errors import NotFound, ValidationFailed


@pytest.fixture
def birth_bundle(mini, templates):
    # A small "出生一件事": household registration first, then the social-security card; the car
    # plate is optional (only to exercise optional parts).
    return catalog.bundle_save(
        actor=None,
        code="birth",
        name="出生一件事",
        audience="person",
        items=[
            {"item": mini.birth.code},
            {"item": mini.card.code, "depends_on": [mini.birth.code]},
            {"item": mini.car.code, "optional": True},
        ],
    )


def _impls(mini):
    return {
        mini.birth.code: impl_of(mini.birth, mini.police_donghu),
        mini.card.code: impl_of(mini.card, mini.hrss_province),
        mini.car.code: impl_of(mini.car, mini.police_nanchang),
    }


@pytest.mark.django_db
def test_bundle_definitions_are_checked_and_idempotent(mini, birth_bundle):
    again = catalog.bundle_save(
        actor=None,
        code="birth",
        name="出生一件事",
        audience="person",
        items=[
            {"item": mini.birth.code},
            {"item": mini.card.code, "depends_on": [mini.birth.code]},
            {"item": mini.car.code, "optional": True},
        ],
    )
    assert again.pk == birth_bundle.pk and again.items.count() == 3
    with pytest.raises(ValidationFailed) as caught:  # a dependency on a later item: a possible cycle
        catalog.bundle_save(
            actor=None,
            code="bad",
            name="坏的",
            audience="person",
            items=[{"item": mini.card.code, "depends_on": [mini.birth.code]}, {"item": mini.birth.code}],
        )
    assert caught.value.code == "bundle_dependency"


def _step(clerk, case, action, **extra):
    case.refresh_from_db()
    return cases.case_act(actor=clerk, case_id=str(case.public_id), action=action, expected_version=case.version, **extra)


@pytest.mark.django_db
def test_dependent_parts_wait_for_their_prerequisites(mini, birth_bundle, citizen, clerk):
    application = bundle_apply(applicant=citizen, bundle_code="birth", implementations=_impls(mini), form_data={"新生儿姓名": "张小宝"})
    parts = {c.implementation.base.code: c for c in Case.objects.filter(bundle_application=application)}
    assert set(parts) == {mini.birth.code, mini.card.code}  # the optional car plate was not asked for
    assert parts[mini.birth.code].state == "submitted" and parts[mini.card.code].state == "draft"
    birth = parts[mini.birth.code]
    for action in ("accept", "approve", "conclude"):
        _step(clerk, birth, action)
    assert Case.objects.get(pk=parts[mini.card.code].pk).state == "submitted"
    assert Case.objects.get(pk=parts[mini.card.code].pk).code is not None


@pytest.mark.django_db
def test_a_refused_prerequisite_stops_its_dependents(mini, birth_bundle, citizen, clerk):
    application = bundle_apply(applicant=citizen, bundle_code="birth", implementations=_impls(mini), include_optional={mini.car.code})
    parts = {c.implementation.base.code: c for c in Case.objects.filter(bundle_application=application)}
    assert parts[mini.car.code].state == "submitted"  # no prerequisite: started at once
    _step(clerk, parts[mini.birth.code], "refuse", opinion="出生医学证明信息与申请不一致")
    card = Case.objects.get(pk=parts[mini.card.code].pk)
    assert card.state == "withdrawn" and "前置事项未通过" in card.events.get(action="withdraw").opinion
    assert Case.objects.get(pk=parts[mini.car.code].pk).state == "submitted"  # independent parts go on


@pytest.mark.django_db
def test_a_bundle_needs_an_implementation_for_every_included_item(mini, birth_bundle, citizen):
    implementations = _impls(mini)
    del implementations[mini.card.code]
    with pytest.raises(ValidationFailed) as caught:
        bundle_apply(applicant=citizen, bundle_code="birth", implementations=implementations)
    assert caught.value.code == "bundle_not_offered"
    assert not Case.objects.exists()


@pytest.fixture
def waiting_bundle(mini, templates):
    return catalog.bundle_save(
        actor=None,
        code="birth-wait",
        name="出生一件事",
        audience="person",
        items=[{"item": mini.birth.code}, {"item": mini.card.code, "depends_on": [mini.birth.code]}],
        on_part_failed="wait",
    )


@pytest.mark.django_db
def test_a_waiting_bundle_keeps_dependents_until_the_failed_part_is_approved_on_reapplication(mini, waiting_bundle, citizen, clerk):
    application = bundle_apply(applicant=citizen, bundle_code="birth-wait", implementations=_impls(mini))
    parts = {c.implementation.base.code: c for c in Case.objects.filter(bundle_application=application)}
    with pytest.raises(ValidationFailed) as caught:  # nothing failed yet
        reapply(applicant=citizen, application_id=str(application.public_id), item_code=mini.birth.code)
    assert caught.value.code == "bundle_part_not_failed"
    _step(clerk, parts[mini.birth.code], "refuse", opinion="出生医学证明编号有误")
    card = Case.objects.get(pk=parts[mini.card.code].pk)
    assert card.state == "draft"  # waits instead of being withdrawn
    again = reapply(applicant=citizen, application_id=str(application.public_id), item_code=mini.birth.code)
    assert again.state == "submitted" and again.code and again.pk != parts[mini.birth.code].pk
    for action in ("accept", "approve", "conclude"):
        _step(clerk, again, action)
    assert Case.objects.get(pk=card.pk).state == "submitted"  # the dependent went on after the reapplied part


@pytest.mark.django_db
def test_reapplying_needs_a_waiting_bundle_and_the_applicants_own_application(mini, birth_bundle, citizen, other_citizen, clerk):
    application = bundle_apply(applicant=citizen, bundle_code="birth", implementations=_impls(mini))
    birth = Case.objects.get(bundle_application=application, implementation__base=mini.birth)
    _step(clerk, birth, "refuse", opinion="不符合条件")
    with pytest.raises(ValidationFailed) as caught:
        reapply(applicant=citizen, application_id=str(application.public_id), item_code=mini.birth.code)
    assert caught.value.code == "bundle_no_reapply"
    with pytest.raises(NotFound):
        reapply(applicant=other_citizen, application_id=str(application.public_id), item_code=mini.birth.code)
