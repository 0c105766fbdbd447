"""Applying for an enterprise: its particulars fill themselves from the legal-person base, the case
records the enterprise, and only a live mandate covering the item lets a person apply for it."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from tests.factories import impl_of
from tests.test_enterprises import _fast_sandboxes, legal_rep  # noqa: F401 (fixture)
from tests.test_materials import PDF
from tongban.cases import forms, materials
from tongban.cases.models import Case
from tongban.common.errors import PermissionDenied, ValidationFailed

SCHEMA = {
    "type": "object",
    "properties": {
        "company": {"type": "string", "title": "企业名称"},
        "uscc": {"type": "string", "title": "统一社会信用代码"},
        "rep": {"type": "string", "title": "法定代表人"},
        "capital": {"type": "integer", "title": "注册资本（万元）"},
    },
    "required": ["company", "uscc", "rep", "capital"],
}
LAYOUT = {
    "fields": {
        "company": {"prefill": "enterprise_name"},
        "uscc": {"prefill": "credit_code"},
        "rep": {"prefill": "legal_representative"},
    }
}


@pytest.fixture
def implementation(mini, templates):
    impl = impl_of(mini.company, mini.market_donghu)
    forms.application_form_save(actor=None, implementation=impl, schema=SCHEMA, layout=LAYOUT)
    return impl


def _apply(account, impl, enterprise, **data):
    draft = forms.case_save_draft(applicant=account, implementation=impl, data={})
    for slot in materials.material_slots(draft):
        if slot.required:
            materials.material_attach(actor=account, case=draft, material_id=slot.material.pk, upload=ContentFile(PDF, name="材料.pdf"))
    return forms.case_apply(
        applicant=account,
        implementation=impl,
        data={"capital": "100", **data},
        query_password="abc12345",
        enterprise=enterprise,
        token=str(draft.public_id),
    )


@pytest.mark.django_db
def test_the_enterprise_fills_its_own_particulars_and_is_kept_with_the_case(citizen, implementation):
    mandate = legal_rep(citizen)
    case = _apply(citizen, implementation, mandate.enterprise, company="冒名公司", uscc="91000000000000000X")
    case = Case.objects.get(pk=case.pk)
    assert case.state == "submitted" and case.enterprise_id == mandate.enterprise_id
    assert case.form_data["company"] == mandate.enterprise.name  # what was posted does not count
    assert case.form_data["uscc"] == mandate.enterprise.credit_code
    assert case.form_data["rep"] == mandate.enterprise.legal_rep_name


@pytest.mark.django_db
def test_no_mandate_no_application_and_an_enterprise_form_needs_an_enterprise(citizen, other_citizen, implementation):
    mandate = legal_rep(citizen)
    with pytest.raises(PermissionDenied) as caught:
        _apply(other_citizen, implementation, mandate.enterprise)
    assert caught.value.code == "mandate_missing"
    with pytest.raises(ValidationFailed) as refused:
        _apply(citizen, implementation, None)
    assert refused.value.code == "enterprise_required"
    assert not Case.objects.exclude(state="draft").exists()
