"""在线申请 and 我的办件: the form validator's subset, prefill and its server-side re-fill, applying
once per form, the commitment, lookup by code and query password, and the applicant's own steps."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.test import Client

from tests.factories import impl_of
from tests.test_enterprises import signed_in_client
from tongban.cases import forms
from tongban.cases import services as cases
from tongban.cases.models import Case, CaseEvent
from tongban.common.errors import ValidationFailed

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "申请人姓名", "maxLength": 30},
        "id_number": {"type": "string", "title": "身份证号码"},
        "child": {"type": "string", "title": "新生儿姓名", "maxLength": 10, "pattern": r"^\S+$"},
        "gender": {"type": "string", "title": "性别", "enum": ["男", "女"]},
        "weight": {"type": "integer", "title": "出生体重（克）"},
        "twins": {"type": "boolean", "title": "是否双胞胎"},
    },
    "required": ["name", "id_number", "child", "gender"],
}
LAYOUT = {
    "steps": [{"title": "申请人", "fields": ["name", "id_number"]}, {"title": "新生儿", "fields": ["child", "gender", "weight", "twins"]}],
    "fields": {"name": {"prefill": "name"}, "id_number": {"prefill": "id_number"}},
    "commitment": True,
}


@pytest.fixture
def implementation(mini, templates):
    impl = impl_of(mini.birth, mini.police_donghu)
    impl.legal_limit, impl.promised_limit = 5, 3
    impl.save()
    return impl


@pytest.fixture
def form(implementation):
    return forms.application_form_save(actor=None, implementation=implementation, schema=SCHEMA, layout=LAYOUT)


@pytest.fixture
def verified(citizen):
    citizen.real_name_level = 2
    citizen.save(update_fields=["real_name_level"])
    return citizen


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


def _fields(exc: pytest.ExceptionInfo) -> dict[str, str]:
    return exc.value.details["fields"]


# --- the form and its validator --------------------------------------------------------------------------


@pytest.mark.django_db
def test_saving_a_form_makes_a_new_current_version_and_refuses_a_bad_schema(implementation):
    first = forms.application_form_save(actor=None, implementation=implementation, schema=SCHEMA, layout={})
    second = forms.application_form_save(actor=None, implementation=implementation, schema=SCHEMA, layout=LAYOUT)
    first.refresh_from_db()
    assert (first.version, second.version, first.is_current, second.is_current) == (1, 2, False, True)
    assert forms.form_current(implementation) == second
    bad = [
        {"type": "object", "properties": {"x": {"type": "array"}}},
        {"type": "object", "properties": {"x": {"type": "string", "pattern": "("}}},
        {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["y"]},
        {"type": "string"},
    ]
    for schema in bad:
        with pytest.raises(ValidationFailed):
            forms.application_form_save(actor=None, implementation=implementation, schema=schema, layout={})
    with pytest.raises(ValidationFailed):
        forms.application_form_save(
            actor=None, implementation=implementation, schema=SCHEMA, layout={"fields": {"name": {"prefill": "email"}}}
        )
    assert forms.form_current(implementation) == second


@pytest.mark.django_db
def test_validation_of_the_supported_subset(form):
    clean = forms.form_validate(
        form, {"name": " 张晓明 ", "id_number": "1", "child": "张小宝", "gender": "男", "weight": "3200", "extra": "x"}
    )
    assert clean == {"name": "张晓明", "id_number": "1", "child": "张小宝", "gender": "男", "weight": 3200, "twins": False}
    with pytest.raises(ValidationFailed) as exc:
        forms.form_validate(form, {"name": "", "child": "张 小宝", "gender": "未知", "weight": "三千", "twins": "on"})
    errors = _fields(exc)
    assert errors["name"] == "请填写申请人姓名。" and errors["id_number"] == "请填写身份证号码。"
    assert "格式不对" in errors["child"] and "选项" in errors["gender"] and "整数" in errors["weight"]
    assert "twins" not in errors
    with pytest.raises(ValidationFailed) as exc:
        forms.form_validate(form, {"child": "张" * 11}, only=["child"])
    assert _fields(exc) == {"child": "新生儿姓名最多 10 个字，现在是 11 个。"}


@pytest.mark.django_db
def test_prefill_comes_from_the_verified_identity_only(form, citizen):
    citizen.real_name_level = 1
    assert forms.prefill(form, citizen) == {"name": "", "id_number": ""}
    citizen.real_name_level = 2
    assert forms.prefill(form, citizen) == {"name": "张晓明", "id_number": "11010519491231002X"}


# --- applying -----------------------------------------------------------------------------------------


def _apply_post(client: Client, impl, token: str, **extra):
    data = {"token": token, "step": "1", "go": "submit", "child": "张小宝", "gender": "女", "commitment": "1", "query_password": "cx2026ab"}
    data.update(extra)
    return client.post(f"/apply/{impl.code}/", data)


def _token(client: Client, impl) -> str:
    page = client.get(f"/apply/{impl.code}/")
    assert page.status_code == 200
    return re.search(r'name="token" value="([^"]+)"', page.content.decode()).group(1)


@pytest.mark.django_db
def test_apply_once_with_prefill_refilled_commitment_and_a_receipt(form, verified, implementation):
    browser = signed_in_client(verified)
    page = browser.get(f"/apply/{implementation.code}/").content.decode()
    assert "张晓明" in page and "readonly" in page and "第 1 步，共 3 步" in page  # the last step: materials
    token = _token(browser, implementation)
    response = _apply_post(browser, implementation, token, name="王五", id_number="360102190001010000")
    assert response.status_code == 302 and response["Location"].endswith("/receipt/")
    again = _apply_post(browser, implementation, token)
    assert again["Location"] == response["Location"]
    assert Case.objects.filter(applicant=verified).count() == 1
    case = Case.objects.get(applicant=verified)
    assert len(case.code) == 43 and case.state == "submitted" and case.form == form
    assert case.form_data["name"] == "张晓明" and case.form_data["id_number"] == "11010519491231002X"  # tampering ignored
    assert case.commitment_text and case.commitment_signed_at is not None
    assert case.query_password_hash and case.query_password_hash != "cx2026ab"
    receipt = browser.get(response["Location"]).content.decode()
    assert case.code in receipt and "查询密码" in receipt
    assert CaseEvent.objects.filter(case=case, action="submit").count() == 1


@pytest.mark.django_db
def test_apply_errors_shown_per_field_and_commitment_required(form, verified, implementation):
    browser = signed_in_client(verified)
    token = _token(browser, implementation)
    response = _apply_post(browser, implementation, token, gender="", commitment="", query_password="1")
    assert response.status_code == 422
    page = response.content.decode()
    assert "请选择性别。" in page and "请阅读并勾选承诺书" in page and "查询密码" in page
    assert not Case.objects.exclude(state="draft").exists()


@pytest.mark.django_db
def test_steps_validate_the_current_step_and_carry_the_rest(implementation, verified):
    layout = {"steps": [{"title": "新生儿", "fields": ["child", "gender"]}, {"title": "其他", "fields": ["weight", "twins"]}]}
    schema = {**SCHEMA, "required": ["child", "gender"]}
    forms.application_form_save(actor=None, implementation=implementation, schema=schema, layout=layout)
    browser = signed_in_client(verified)
    token = _token(browser, implementation)
    url = f"/apply/{implementation.code}/"
    stuck = browser.post(url, {"token": token, "step": "0", "go": "next", "child": "张小宝"})
    assert stuck.status_code == 422 and "请选择性别。" in stuck.content.decode()
    moved = browser.post(url, {"token": token, "step": "0", "go": "next", "child": "张小宝", "gender": "男"})
    page = moved.content.decode()
    assert moved.status_code == 200 and "第 2 步" in page and 'name="child" value="张小宝"' in page
    done = browser.post(
        url, {"token": token, "step": "1", "go": "submit", "child": "张小宝", "gender": "男", "weight": "3100", "query_password": "abcdef"}
    )
    assert done.status_code == 302
    assert Case.objects.get(applicant=verified).form_data["weight"] == 3100


@pytest.mark.django_db
def test_a_draft_is_kept_and_resumed(form, verified, implementation):
    browser = signed_in_client(verified)
    token = _token(browser, implementation)
    response = browser.post(f"/apply/{implementation.code}/", {"token": token, "step": "1", "go": "draft", "child": "张小宝"})
    case = Case.objects.get(applicant=verified)
    assert case.state == "draft" and case.form_data["child"] == "张小宝" and str(case.public_id) == token
    assert response["Location"] == f"/my/cases/{case.public_id}/"
    detail = browser.get(response["Location"]).content.decode()
    assert "继续填写" in detail and "草稿" in detail
    resumed = browser.get(f"/apply/{implementation.code}/?draft={case.public_id}").content.decode()
    assert f'value="{case.public_id}"' in resumed and "张小宝" in resumed
    assert _apply_post(browser, implementation, token).status_code == 302
    case.refresh_from_db()
    assert case.state == "submitted" and Case.objects.filter(applicant=verified).count() == 1


@pytest.mark.django_db
def test_guide_offers_online_application_only_with_a_form(implementation):
    assert f"/apply/{implementation.code}/" not in Client().get(f"/guide/{implementation.code}").content.decode()
    forms.application_form_save(actor=None, implementation=implementation, schema=SCHEMA, layout={})
    assert f"/apply/{implementation.code}/" in Client().get(f"/guide/{implementation.code}").content.decode()


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_sign_in(form, implementation):
    for url in (f"/apply/{implementation.code}/", "/my/cases/"):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- lookup -------------------------------------------------------------------------------------------


QUERY_PASSWORD = "cx2026ab"


def _applied(citizen, implementation) -> Case:
    return forms.case_apply(
        applicant=citizen,
        implementation=implementation,
        data={"child": "张小宝", "gender": "男"},
        commitment=True,
        query_password=QUERY_PASSWORD,
    )


@pytest.mark.django_db
def test_lookup_by_code_and_password_with_one_answer_for_both_failures(form, verified, implementation):
    case = _applied(verified, implementation)
    assert forms.case_lookup(case.code, "cx2026ab") == case
    assert forms.case_lookup(case.code, "wrong-one") is None
    assert forms.case_lookup("9" * 43, "cx2026ab") is None
    client = Client()
    found = client.post("/cases/lookup/", {"code": case.code, "password": "cx2026ab"})
    assert found.status_code == 200 and "已申报（待预审）" in found.content.decode()
    wrong = client.post("/cases/lookup/", {"code": case.code, "password": "wrong-one"})
    unknown = client.post("/cases/lookup/", {"code": "9" * 43, "password": "cx2026ab"})
    assert wrong.status_code == unknown.status_code == 400
    message = "办件编号或查询密码不正确，请核对后重新输入。"
    assert message in wrong.content.decode() and message in unknown.content.decode()
    assert "已申报" not in wrong.content.decode()


@pytest.mark.django_db
def test_lookup_is_rate_limited(form, verified, implementation):
    from tests.test_my_cases import _fresh_window

    _fresh_window()  # the limit counts in one-minute windows: the burst must not straddle two
    client = Client()
    statuses = [client.post("/cases/lookup/", {"code": "x", "password": "y"}).status_code for _ in range(21)]
    assert statuses[:20] == [400] * 20 and statuses[20] == 429


# --- my cases -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_another_citizen_sees_404(form, verified, other_citizen, implementation):
    case = _applied(verified, implementation)
    stranger = signed_in_client(other_citizen)
    assert stranger.get(f"/my/cases/{case.public_id}/").status_code == 404
    assert stranger.get(f"/my/cases/{case.public_id}/receipt/").status_code == 404
    assert stranger.post(f"/my/cases/{case.public_id}/act/", {"action": "withdraw", "version": case.version}).status_code == 404
    assert stranger.get("/my/cases/not-a-uuid/").status_code == 404
    case.refresh_from_db()
    assert case.state == "submitted"
    mine = signed_in_client(verified).get("/my/cases/").content.decode()
    assert case.code in mine and "已申报（待预审）" in mine and "等待工作人员预审" in mine


@pytest.mark.django_db
def test_resubmit_after_a_correction_notice(form, verified, implementation, clerk):
    case = _applied(verified, implementation)
    case = cases.correction_notice(
        actor=clerk,
        case_id=str(case.public_id),
        expected_version=case.version,
        problems=[{"material": "出生医学证明", "reason": "照片不清晰"}],
    )
    browser = signed_in_client(verified)
    page = browser.get(f"/my/cases/{case.public_id}/").content.decode()
    assert "待补正" in page and "出生医学证明" in page and "照片不清晰" in page and "已补正，重新提交" in page
    stale = browser.post(f"/my/cases/{case.public_id}/act/", {"action": "resubmit", "version": case.version - 1}, follow=True)
    assert "刚刚已被他人处理" in stale.content.decode()
    browser.post(f"/my/cases/{case.public_id}/act/", {"action": "resubmit", "version": case.version})
    case.refresh_from_db()
    assert case.state == "submitted" and case.submission_round == 2
    timeline = browser.get(f"/my/cases/{case.public_id}/").content.decode()
    assert "一次性告知补正" in timeline and "您：提交补正材料" in timeline


@pytest.mark.django_db
def test_withdraw(form, verified, implementation):
    case = _applied(verified, implementation)
    browser = signed_in_client(verified)
    assert "撤回申请" in browser.get(f"/my/cases/{case.public_id}/").content.decode()
    browser.post(f"/my/cases/{case.public_id}/act/", {"action": "withdraw", "version": case.version})
    case.refresh_from_db()
    assert case.state == "withdrawn"
    page = browser.get(f"/my/cases/{case.public_id}/").content.decode()
    assert "已撤回" in page and "撤回申请</button>" not in page
    unknown = browser.post(f"/my/cases/{case.public_id}/act/", {"action": "accept", "version": case.version})
    assert unknown.status_code == 404


@pytest.mark.django_db
def test_fields_keep_the_order_they_were_written_in(implementation):
    # PostgreSQL's jsonb orders an object's keys by length, so "mid" would come first there.
    schema = {"type": "object", "properties": {n: {"type": "string", "title": n} for n in ("zeta", "alphabet", "mid")}}
    saved = forms.application_form_save(actor=None, implementation=implementation, schema=schema, layout={})
    saved.refresh_from_db()
    assert forms.field_names(saved) == ["zeta", "alphabet", "mid"]
    assert forms.steps_of(saved)[0]["fields"] == ["zeta", "alphabet", "mid"]
