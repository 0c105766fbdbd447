"""The console's application-form editor (/console/forms/) through the test client against the real
database: who may list and edit an implementation's form, saving a new version from the structured
editor and from JSON, problems shown in Chinese beside what caused them with everything typed kept,
the phone preview, and restoring an old version as a new one."""

from __future__ import annotations

import html

import pytest
from django.test import Client

from tests.conftest import STAFF_PASSWORD, staff_ready
from tests.factories import impl_of
from tests.staff_support import console_sign_in
from tongban.cases import forms as apply_forms
from tongban.cases.models import ApplicationForm
from tongban.common.models import AuditEvent
from tongban.identity import services as identity
from tongban.identity import staff
from tongban.identity.models import StaffRole

SCHEMA = {
    "type": "object",
    "properties": {
        "company": {"type": "string", "title": "企业名称", "maxLength": 50},
        "capital": {"type": "integer", "title": "注册资本（万元）"},
    },
    "required": ["company"],
}


@pytest.fixture
def impl(mini):
    return impl_of(mini.company, mini.market_donghu)


@pytest.fixture
def other_impl(mini):
    return impl_of(mini.company, mini.market_nanchang)


def _staff(username: str, department, *, admin: bool = False):
    account = staff_ready(
        identity.staff_account_upsert(
            actor=None, username=username, password=STAFF_PASSWORD, display_name=username, kind="staff", department=department
        )
    )
    if admin:
        staff.system_role_grant(account=account, role=StaffRole.Role.DEPT_ADMIN, department=department)
    return account


def _signed_in(account) -> Client:
    client = Client()
    assert console_sign_in(client, account, STAFF_PASSWORD).status_code == 302
    return client


@pytest.fixture
def admin(mini):
    """The department administrator of 东湖区市场监管局."""
    return _signed_in(_staff("donghu-market-admin", mini.market_donghu, admin=True))


@pytest.fixture
def desk(operator) -> Client:
    return _signed_in(operator)


def _url(impl, tail: str = "") -> str:
    return f"/console/forms/{impl.code}{tail}"


def _rows(fields: list[dict], steps: list[dict] | None = None, **extra) -> dict:
    """The structured editor's POST: one row per field, one per step."""
    data: dict = {"field_rows": len(fields), "step_rows": len(steps or []), **extra}
    for i, f in enumerate(fields):
        for key, value in f.items():
            data[f"f-{i}-{key}"] = value
    for i, s in enumerate(steps or []):
        data[f"s-{i}-title"], data[f"s-{i}-fields"] = s["title"], s["fields"]
    return data


NEW_FORM = _rows(
    [
        {"name": "applicant", "title": "申请人姓名", "type": "string", "required": "1", "prefill": "name"},
        {"name": "id_no", "title": "身份证号码", "type": "string", "required": "1", "prefill": "id_number"},
        {"name": "company", "title": "企业名称", "type": "string", "required": "1", "maxlength": "50", "hint": "与名称预先登记一致"},
        {"name": "kind", "title": "企业类型", "type": "string", "enum": "有限责任公司\n股份有限公司"},
        {"name": "capital", "title": "注册资本（万元）", "type": "integer"},
        {"name": "agree", "title": "同意共享登记信息", "type": "boolean"},
        {"name": "", "title": "", "type": "string"},  # an unused empty row
    ],
    [{"title": "申请人", "fields": "applicant、id_no"}, {"title": "企业信息", "fields": "company kind, capital agree"}],
    go="save",
    commitment="1",
    commitment_text="本企业承诺所填信息真实。",
)


@pytest.mark.django_db
def test_anonymous_visitors_go_to_the_console_login(client, impl):
    for url in ("/console/forms/", _url(impl)):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/console/login"), url
    response = client.post(_url(impl), NEW_FORM)
    assert response.status_code == 302 and response["Location"].startswith("/console/login")
    assert not ApplicationForm.objects.exists()


@pytest.mark.django_db
def test_a_citizen_is_refused(client, citizen, impl):
    client.force_login(citizen)
    assert client.get("/console/forms/").status_code == 403
    assert client.get(_url(impl)).status_code == 403
    assert client.post(_url(impl), NEW_FORM).status_code == 403
    assert client.get(_url(impl, "/preview")).status_code == 403
    assert not ApplicationForm.objects.exists()


@pytest.mark.django_db
def test_a_clerk_without_the_admin_role_and_an_admin_of_another_department_are_refused(mini, impl, other_impl):
    clerk = _signed_in(_staff("donghu-market-clerk", mini.market_donghu))  # window clerk of the same department
    assert clerk.get("/console/forms/").status_code == 403
    assert clerk.get(_url(impl)).status_code == 403
    assert clerk.post(_url(impl), NEW_FORM).status_code == 403
    assert clerk.get(_url(impl, "/preview")).status_code == 403
    stranger = _signed_in(_staff("nanchang-market-admin", mini.market_nanchang, admin=True))
    page = stranger.get("/console/forms/").content.decode()
    assert other_impl.code in page and impl.code not in page
    assert stranger.get(_url(impl)).status_code == 404
    assert stranger.post(_url(impl), NEW_FORM).status_code == 404
    assert stranger.post(_url(impl, "/restore"), {"version": "1"}).status_code == 404
    assert stranger.get(_url(impl, "/preview")).status_code == 404
    assert not ApplicationForm.objects.filter(implementation=impl).exists()


@pytest.mark.django_db
def test_the_department_admin_lists_and_saves_a_new_version(admin, impl, other_impl, mini):
    listing = admin.get("/console/forms/").content.decode()
    assert impl.code in listing and other_impl.code not in listing and "未开通在线申请" in listing
    editor = admin.get(_url(impl)).content.decode()
    assert "尚未开通在线申请" in editor and 'name="f-0-name"' in editor and "applicant_name" in editor  # a starter form
    response = admin.post(_url(impl), NEW_FORM)
    assert response.status_code == 302 and response["Location"] == _url(impl)
    form = apply_forms.form_current(impl)
    assert form.version == 1 and set(apply_forms.field_names(form)) == {"applicant", "id_no", "company", "kind", "capital", "agree"}
    assert form.schema["properties"]["kind"]["enum"] == ["有限责任公司", "股份有限公司"]
    assert form.schema["properties"]["company"]["maxLength"] == 50 and form.schema["required"] == ["applicant", "id_no", "company"]
    assert form.layout["steps"] == [
        {"title": "申请人", "fields": ["applicant", "id_no"]},
        {"title": "企业信息", "fields": ["company", "kind", "capital", "agree"]},
    ]
    assert form.layout["fields"]["applicant"] == {"prefill": "name"} and form.layout["fields"]["company"] == {"hint": "与名称预先登记一致"}
    assert form.layout["commitment"] is True and form.layout["commitment_text"] == "本企业承诺所填信息真实。"
    assert AuditEvent.objects.filter(action="application_form.save", object_id=impl.code).count() == 1
    page = admin.get(_url(impl)).content.decode()
    assert "已保存为第 1 版" in page and "当前为第 1 版" in page and "首个版本：6 个字段，2 步" in page
    assert f'src="{_url(impl, "/preview")}"' in page
    response = admin.get(_url(impl, "/preview"))
    assert response["X-Frame-Options"] == "SAMEORIGIN" and "frame-ancestors 'self'" in response["Content-Security-Policy"]
    preview = response.content.decode()
    assert "第 1 步，共 2 步" in preview and "企业类型" in preview and "本企业承诺所填信息真实。" in preview
    assert "已根据您的实名信息自动填写" in preview and "tongban/portal.css" in preview
    # Saving the same again makes no new version.
    again = admin.post(_url(impl), NEW_FORM, follow=True).content.decode()
    assert "没有保存新版本" in again and ApplicationForm.objects.filter(implementation=impl).count() == 1
    assert impl.code in admin.get("/console/forms/?with=1").content.decode()


@pytest.mark.django_db
def test_problems_are_shown_beside_the_field_and_nothing_typed_is_lost(desk, impl):
    apply_forms.application_form_save(actor=None, implementation=impl, schema=SCHEMA, layout={})
    data = _rows(
        [
            {"name": "company", "title": "企业名称", "type": "string", "maxlength": "五十"},
            {"name": "phone", "title": "联系电话", "type": "string", "pattern": "^1(\\d{10}$"},
            {"name": "company", "title": "重复的名称", "type": "string", "hint": "这段提示要保留"},
            {"name": "flag", "title": "是否加急", "type": "boolean", "enum": "是\n否"},
        ],
        [{"title": "第一步", "fields": "company phone nowhere"}],
        go="save",
    )
    response = desk.post(_url(impl), data)
    page = response.content.decode()
    assert response.status_code == 422
    assert "最多字数请填写正整数" in page and "不是有效的正则表达式" in page and "字段名 company 重复了" in page
    assert "“是/否”字段不能设置选项" in page
    assert 'value="五十"' in page and 'value="^1(\\d{10}$"' in page and 'value="这段提示要保留"' in page and "是\n否</textarea>" in page
    assert 'value="company phone nowhere"' in page and "这些字段不在表单中：nowhere" in page
    assert ApplicationForm.objects.filter(implementation=impl).count() == 1  # nothing saved
    # The validator's own problems land next to their row too.
    data = _rows([{"name": "company", "title": "企业名称", "type": "string"}], [{"title": "一", "fields": "company"}], go="save")
    data["field_rows"] = 2
    data.update({"f-1-name": "extra", "f-1-title": "未分步的字段", "f-1-type": "string"})
    page = desk.post(_url(impl), data).content.decode()
    assert "这些字段还没有放：extra" in page and 'value="未分步的字段"' in page


@pytest.mark.django_db
def test_invalid_json_is_refused_with_the_text_kept(desk, impl):
    broken = '{"type": "object", "properties": {"a": {"type": "date"}}}'
    response = desk.post(_url(impl), {"go": "save_json", "schema_json": broken, "layout_json": "{}"})
    page = response.content.decode()
    assert response.status_code == 422 and "字段 a 的类型只能是 string、integer 或 boolean" in page
    assert html.escape(broken, quote=False) in page or html.escape(broken) in page
    response = desk.post(_url(impl), {"go": "save_json", "schema_json": "{not json", "layout_json": "{}"})
    assert response.status_code == 422 and "不是有效的 JSON" in response.content.decode()
    assert not ApplicationForm.objects.filter(implementation=impl).exists()
    import json

    response = desk.post(_url(impl), {"go": "save_json", "schema_json": json.dumps(SCHEMA), "layout_json": '{"commitment": true}'})
    saved = apply_forms.form_current(impl)
    assert response.status_code == 302 and saved.layout == {"commitment": True, "order": list(SCHEMA["properties"])}


@pytest.mark.django_db
def test_adding_rows_and_previewing_save_nothing(desk, impl):
    data = _rows([{"name": "company", "title": "企业名称", "type": "string"}], go="add_field")
    page = desk.post(_url(impl), data).content.decode()
    assert 'name="f-3-name"' in page and 'value="企业名称"' in page and "未能保存" not in page
    data["go"] = "preview"
    page = desk.post(_url(impl), data).content.decode()
    assert "预览（尚未保存）" in page and f'src="{_url(impl, "/preview")}?draft=1"' in page
    assert "企业名称" in desk.get(_url(impl, "/preview?draft=1")).content.decode()
    assert desk.get(_url(impl, "/preview")).status_code == 404  # nothing saved yet
    assert not ApplicationForm.objects.filter(implementation=impl).exists()


@pytest.mark.django_db
def test_restore_an_old_version_as_a_new_one(desk, impl, operator):
    apply_forms.application_form_save(actor=None, implementation=impl, schema=SCHEMA, layout={})
    changed = {**SCHEMA, "properties": {**SCHEMA["properties"], "address": {"type": "string", "title": "住所"}}}
    apply_forms.application_form_save(actor=operator, implementation=impl, schema=changed, layout={"commitment": True})
    assert "住所" not in desk.get(_url(impl, "/preview?version=1")).content.decode()
    assert "住所" in desk.get(_url(impl, "/preview?version=2")).content.decode()
    page = desk.get(_url(impl)).content.decode()
    assert "新增字段：住所" in page and "开启告知承诺制" in page and "恢复为新版本" in page
    response = desk.post(_url(impl, "/restore"), {"version": "1"})
    assert response.status_code == 302
    form = apply_forms.form_current(impl)
    assert form.version == 3 and form.schema == SCHEMA and form.layout == {"order": list(SCHEMA["properties"])}
    assert ApplicationForm.objects.get(implementation=impl, version=2).is_current is False
    page = desk.get(_url(impl)).content.decode()
    assert "已将第 1 版恢复为新的第 3 版" in page and "删除字段：住所" in page
    assert desk.post(_url(impl, "/restore"), {"version": "9"}).status_code == 404
    assert AuditEvent.objects.filter(action="application_form.save", object_id=impl.code).count() == 3


@pytest.mark.django_db
def test_the_operator_sees_every_department_and_the_navigation_link(desk, impl, other_impl):
    page = desk.get("/console/forms/").content.decode()
    assert impl.code in page and other_impl.code in page
    assert 'href="/console/forms/"' in desk.get("/console/").content.decode()
    filtered = desk.get("/console/forms/?q=东湖").content.decode()
    assert impl.code in filtered and other_impl.code not in filtered
