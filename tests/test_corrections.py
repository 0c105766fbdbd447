"""The one-time correction notice answered: a resubmission needs a corrected file for every material
the notice named (where the application was made with uploaded files), enforced by the case service
whatever page or API asks for it."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from tests.factories import impl_of
from tests.test_materials import PDF
from tongban.cases import materials
from tongban.cases import services as cases
from tongban.catalog.models import Material
from tongban.common.errors import ValidationFailed


@pytest.fixture
def implementation(mini, templates):
    for sort, name in enumerate(["出生医学证明", "父母结婚证"], 1):
        Material.objects.create(item=mini.birth, sort=sort, name=name, form="both", need="required")
    return impl_of(mini.birth, mini.police_donghu)


def _upload(citizen, case, slot, name="材料.pdf"):
    return materials.material_attach(actor=citizen, case=case, material_id=slot.material.pk, upload=ContentFile(PDF, name=name))


def _resubmit(citizen, case):
    return cases.case_act(
        actor=citizen, case_id=str(case.public_id), action="resubmit", expected_version=case.version, actor_kind="applicant"
    )


@pytest.mark.django_db
def test_resubmitting_needs_a_new_file_for_each_noticed_material(citizen, clerk, implementation):
    draft = cases.case_draft(applicant=citizen, implementation=implementation)
    slots = [s for s in materials.material_slots(draft) if not s.paper_only and not s.licence]
    assert [s.name for s in slots] == ["出生医学证明", "父母结婚证"]
    for slot in slots:
        _upload(citizen, draft, slot)
    case = cases.case_submit(applicant=citizen, case_id=str(draft.public_id))
    noticed = slots[0]
    case = cases.correction_notice(
        actor=clerk,
        case_id=str(case.public_id),
        expected_version=case.version,
        problems=[{"material": noticed.name, "reason": "复印件不清晰"}],
    )
    with pytest.raises(ValidationFailed) as caught:
        _resubmit(citizen, case)
    assert caught.value.code == "correction_files_missing" and caught.value.details["materials"] == [noticed.name]
    case.refresh_from_db()
    assert case.state == "correcting"
    _upload(citizen, case, noticed, name="清晰件.pdf")
    case = _resubmit(citizen, case)
    assert case.state == "submitted" and case.submission_round == 2
