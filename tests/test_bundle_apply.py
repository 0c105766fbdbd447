"""One application for a bundle (一件事一次办): one merged form where a field several items share is
asked once, one deduplicated set of materials uploaded once and kept with every part, one query
password and one submission; the parts start as their dependencies allow."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from tests.factories import impl_of
from tests.test_enterprises import signed_in_client
from tests.test_materials import PDF
from tongban.cases import bundles, forms
from tongban.cases.forms import case_lookup
from tongban.cases.models import Case, CaseMaterial
from tongban.catalog import services as catalog
from tongban.catalog.models import Material
from tongban.common.errors import ValidationFailed

SHARED = {"child": {"type": "string", "title": "新生儿姓名", "maxLength": 10}, "name": {"type": "string", "title": "申请人姓名"}}


@pytest.fixture
def plan_parts(mini, templates, citizen):
    citizen.real_name_level = 2
    citizen.save(update_fields=["real_name_level"])
    birth, card = impl_of(mini.birth, mini.police_donghu), impl_of(mini.card, mini.hrss_province)
    layout = {"fields": {"name": {"prefill": "name"}}}
    forms.application_form_save(
        actor=None,
        implementation=birth,
        schema={"type": "object", "properties": {**SHARED, "hospital": {"type": "string", "title": "出生医院"}}, "required": ["child"]},
        layout={**layout, "commitment": True},  # one part asks for the commitment: signed once for all
    )
    forms.application_form_save(
        actor=None,
        implementation=card,
        schema={"type": "object", "properties": {**SHARED, "bank": {"type": "string", "title": "开户银行"}}, "required": ["child", "bank"]},
        layout=layout,
    )
    for item in (mini.birth, mini.card):  # the same material in both items' lists: uploaded once
        Material.objects.create(item=item, sort=1, name="居民户口簿", form="both", need="required")
    catalog.bundle_save(
        actor=None,
        code="birth",
        name="出生一件事",
        audience="person",
        items=[{"item": mini.birth.code}, {"item": mini.card.code, "depends_on": [mini.birth.code]}],
    )
    return {mini.birth.code: birth, mini.card.code: card}


def _plan(impls):
    from tongban.catalog.models import Bundle

    return bundles.bundle_plan(bundle=Bundle.objects.get(code="birth"), implementation_for=lambda item: impls.get(item.code))


@pytest.mark.django_db
def test_one_form_one_set_of_materials_one_submission(citizen, plan_parts, mini):
    plan = _plan(plan_parts)
    assert list(plan.fields) == ["child", "name", "hospital", "bank"]  # "child" and "name" asked once
    assert [m.name for m in plan.materials].count("居民户口簿") == 1
    with pytest.raises(ValidationFailed) as caught:
        bundles.bundle_submit(applicant=citizen, plan=plan, data={"child": "张小宝"}, uploads={}, query_password="abc123", commitment=True)
    assert {"bank", "materials"} <= set(caught.value.details["fields"])
    with pytest.raises(ValidationFailed) as unsigned:
        bundles.bundle_submit(applicant=citizen, plan=plan, data={"child": "张小宝"}, uploads={}, query_password="abc123", commitment=False)
    assert "commitment" in unsigned.value.details["fields"]
    assert not Case.objects.exists()  # nothing kept
    application = bundles.bundle_submit(
        applicant=citizen,
        plan=plan,
        data={"child": "张小宝", "hospital": "省妇幼", "bank": "江西银行", "name": "冒名"},
        uploads={"居民户口簿": ContentFile(PDF, name="户口簿.pdf")},
        query_password="abc123",
        commitment=True,
    )
    parts = {c.implementation.base.code: c for c in Case.objects.filter(bundle_application=application)}
    birth, card = parts[mini.birth.code], parts[mini.card.code]
    assert birth.state == "submitted" and card.state == "draft"  # the card waits for the birth registration
    assert birth.form_data == {"child": "张小宝", "name": citizen.display_name, "hospital": "省妇幼"}  # its own fields; the name re-filled
    assert card.form_data["bank"] == "江西银行" and "hospital" not in card.form_data
    kept = CaseMaterial.objects.filter(case__bundle_application=application, name="居民户口簿")
    assert kept.count() == 2 and len(set(kept.values_list("file_id", flat=True))) == 1  # one file, kept with both parts
    assert case_lookup(birth.code, "abc123") is not None and birth.commitment_signed_at is not None


@pytest.mark.django_db
def test_the_bundle_pages(client, citizen, plan_parts, mini):
    assert "出生一件事" in client.get("/bundles/").content.decode()
    assert client.get("/bundles/birth/apply/").status_code == 302  # sign in first
    page = signed_in_client(citizen).get("/bundles/birth/apply/")
    assert page.status_code == 200
    assert signed_in_client(citizen).get("/bundles/no-such/apply/").status_code == 404
