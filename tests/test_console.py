"""The operator console through the Django test client, against the real database.

Personas: an operator (may change the catalogue and the calendar) and a clerk of the Donghu public
security bureau (may read the items of that bureau, nothing else). Forms are read back from the
rendered HTML and submitted as a browser would, so what the page shows is what gets saved.
"""

from __future__ import annotations

import io
import json
import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook, load_workbook

from tests import factories as f
from tests.conftest import STAFF_PASSWORD
from tests.staff_support import console_sign_in
from tongban.catalog import services as catalog
from tongban.catalog.models import BaseItem, Implementation, Synonym, Zone
from tongban.common.models import AuditEvent
from tongban.org.models import CalendarYear, WorkdayOverride
from tongban.web.console import urls as console_urls
from tongban.web.console import views as console_views

PASSWORD = STAFF_PASSWORD
CARD = "200200001000"
BIRTH = "070100001000"
CAR = "070100002000"
COMPANY = "070700101000"
ALL_CODES = [BIRTH, CAR, COMPANY, CARD]


# --- personas ---------------------------------------------------------------------------------


@pytest.fixture
def op(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def clerk_client(clerk) -> Client:
    client = Client()
    client.force_login(clerk)
    return client


# --- reading forms back from the page -----------------------------------------------------------


class _Forms(HTMLParser):
    """Collect each <form>'s action and the values a browser would submit (submit buttons excluded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._textarea: str | None = None
        self._text = ""
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def _add(self, name: str, value: str) -> None:
        assert self._form is not None
        self._form["data"].setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = {"action": a.get("action"), "method": a.get("method", "get"), "data": {}}
            self.forms.append(self._form)
        elif self._form is None or "disabled" in a:
            return
        elif tag == "input":
            kind = a.get("type", "text")
            if kind in ("submit", "button", "file") or "name" not in a:
                return
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._add(a["name"], a.get("value", "on"))
            else:
                self._add(a["name"], a.get("value", ""))
        elif tag == "textarea":
            self._textarea, self._text = a["name"], ""
        elif tag == "select":
            self._select, self._options = a["name"], []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea" and self._textarea is not None:
            # Browsers drop the one newline that follows <textarea>.
            self._add(self._textarea, self._text[1:] if self._text.startswith("\n") else self._text)
            self._textarea = None
        elif tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._options if selected] or [self._options[0][0]] if self._options else []
            for value in chosen:
                self._add(self._select, value)
            self._select = None


def form_data(response, action: str | None = None) -> dict[str, list[str]]:
    """The submitted values of the form posting to `action` (None: the form without an action attribute)."""
    parser = _Forms()
    parser.feed(response.content.decode())
    matches = [form for form in parser.forms if form["action"] == action]
    assert len(matches) == 1, [form["action"] for form in parser.forms]
    return matches[0]["data"]


def html(response) -> str:
    return response.content.decode()


def codes_in_table(response) -> list[str]:
    return re.findall(r'<td class="code">(?:<a href="[^"]*">)?([0-9A-Z]{12,31})(?:</a>)?</td>', html(response))


def impl_codes_listed(response) -> list[str]:
    """Implementation codes in the implementations table of an item page (not in its history)."""
    section = html(response).split('id="impls-title"')[1].split('id="history-title"')[0]
    return re.findall(r'<td class="code"><a href="[^"]*">([0-9A-Z]{31})</a></td>', section)


def field_errors(response, field_id: str) -> list[str]:
    match = re.search(rf'<ul class="field-errors" id="{field_id}_error">(.*?)</ul>', html(response), re.S)
    return [unescape(m) for m in re.findall(r"<li>(.*?)</li>", match.group(1))] if match else []


def messages_shown(response) -> list[str]:
    return [unescape(m) for m in re.findall(r'<p class="notice notice-[a-z]+">(.*?)</p>', html(response))]


def impl_code(item_code: str, dept) -> str:
    return f"{dept.credit_code}{dept.division.level}{item_code}"


# --- walking every console address -------------------------------------------------------------

SAMPLE_KWARGS = {
    "item": {"code": CARD},
    "item_edit": {"code": CARD},
    "item_status": {"code": CARD},
    "implementation_new": {"code": CARD},
    "zone": {"code": "birth-zone"},
    "case_webhook_redrive": {"webhook_id": 1},
}


def _console_routes(mini) -> list[tuple[str, str, Any]]:
    impl = impl_code(BIRTH, mini.police_donghu)
    routes = []
    for pattern in console_urls.urlpatterns:
        if pattern.name.startswith("message"):
            continue  # the message centre's pages: tests/test_console_messages.py walks those routes
        if pattern.name.startswith("identity"):
            continue  # sign-in steps, applications, staff roles, account import: tests/test_staff.py walks those
        kwargs = SAMPLE_KWARGS.get(pattern.name)
        if kwargs is None and pattern.pattern.converters:
            kwargs = {"code": impl}
        routes.append((pattern.name, reverse(f"console:{pattern.name}", kwargs=kwargs), pattern.callback))
    return routes


def test_every_console_page_sends_anonymous_visitors_to_login(mini, client):
    routes = _console_routes(mini)
    assert len(routes) == 30  # forms (4) and failed case webhooks (2) included
    for name, url, _view in routes:
        if name in ("login", "logout"):
            continue
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code == 302, (name, method)
            assert response.url == f"/console/login?next={url}", name
    assert client.get("/console/login").status_code == 200
    assert client.post("/console/logout").url == "/console/login"


def test_clerk_gets_403_on_every_write_and_every_operator_page(mini, clerk_client):
    operator_only = [(name, url) for name, url, view in _console_routes(mini) if getattr(view, "operator_only", False)]
    assert sorted(name for name, _url in operator_only) == sorted(
        [
            "item_new", "item_edit", "item_status", "implementation_new", "implementation_save", "implementation_status",
            "import", "import_template", "export", "zones", "zone_new", "zone", "synonyms",
            "calendar", "override_set", "override_delete", "calendar_year",
            "case_webhooks", "case_webhook_redrive",
        ]
    )  # fmt: skip
    events = AuditEvent.objects.count()
    impl = impl_code(BIRTH, mini.police_donghu)
    attempts = {
        "item_status": {"status": "withdrawn", "reason": "试图撤回"},
        "implementation_status": {"status": "withdrawn", "reason": "试图撤回"},
        "implementation_save": {"promised_limit": "1", "reason": "试图修改"},
        "synonyms": {"term": "户口", "expansions": "篡改"},
        "override_set": {"date": "2026-10-10", "is_workday": "0", "note": "篡改"},
        "calendar_year": {"year": "2027", "source": "篡改", "complete": "on"},
    }
    for name, url in operator_only:
        assert clerk_client.get(url).status_code == 403, name
        response = clerk_client.post(url, attempts.get(name, {}))
        assert response.status_code == 403, name
        assert "只有平台运营人员可以进行此操作。" in html(response)
    assert AuditEvent.objects.count() == events
    assert Implementation.objects.get(code=impl).status == "published"
    assert BaseItem.objects.get(code=CARD).status == "published"
    assert not WorkdayOverride.objects.exists()


def test_writes_need_the_csrf_token(mini, operator):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator)
    response = browser.post(f"/console/catalog/items/{CARD}/status", {"status": "withdrawn", "reason": "跨站请求"})
    assert response.status_code == 403
    assert BaseItem.objects.get(code=CARD).status == "published"
    data = form_data(browser.get(f"/console/catalog/items/{CARD}"), f"/console/catalog/items/{CARD}/status")
    data.update({"status": ["withdrawn"], "reason": ["核实后撤回"]})
    assert browser.post(f"/console/catalog/items/{CARD}/status", data).status_code == 302
    assert BaseItem.objects.get(code=CARD).status == "withdrawn"


def test_operator_pages_render_without_inline_script_or_style(mini, op):
    from tongban.cases.forms import application_form_save
    from tongban.catalog.models import Implementation

    catalog.zone_save(actor=None, code="birth-zone", name="出生一件事", kind="theme", item_codes=[BIRTH])
    application_form_save(  # so the form editor's preview has a form to show
        actor=None,
        implementation=Implementation.objects.get(code=impl_code(BIRTH, mini.police_donghu)),
        schema={"type": "object", "properties": {"child": {"type": "string", "title": "新生儿姓名"}}},
        layout={},
    )
    post_only = {
        "item_status",
        "implementation_save",
        "implementation_status",
        "override_set",
        "override_delete",
        "calendar_year",
        "logout",
        "form_restore",
        "case_webhook_redrive",
    }
    downloads = {"import_template", "export"}
    for name, url, _view in _console_routes(mini):
        response = op.get(url + ("?format=json" if name == "export" else ""))
        if name in post_only:
            assert response.status_code == 405, name
            continue
        if name == "login":  # signed in already
            assert response.status_code == 302
            continue
        assert response.status_code == 200, name
        assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
        if name in downloads:
            continue
        page = html(response)
        assert 'style="' not in page and "<style" not in page, name
        assert re.findall(r"<script(?![^>]*\bsrc=)", page) == [], name
        sheet = "portal" if name == "form_preview" else "console"  # the preview shows the form as the portal does
        assert f'<link rel="stylesheet" href="/static/tongban/{sheet}.css">' in page
        assert "script-src 'self'" in response["Content-Security-Policy"]


# --- sign in, home ------------------------------------------------------------------------------


def test_only_staff_accounts_can_sign_in(mini, operator, client):
    from tongban.identity.models import Account

    citizen = Account.objects.create_user(username="citizen", password=PASSWORD)
    response = client.post("/console/login", {"username": citizen.username, "password": PASSWORD})
    assert response.status_code == 400
    assert "此账号不是工作人员账号，不能登录运营管理后台。" in html(response)
    response = console_sign_in(client, operator, PASSWORD, next_url="/console/calendar")
    assert response.status_code == 302
    assert response.url == "/console/calendar"
    assert client.post("/console/logout").url == "/console/login"
    assert client.get("/console/").status_code == 302


def test_signed_in_citizen_gets_403(mini, client):
    from tongban.identity.models import Account

    client.force_login(Account.objects.create_user(username="citizen2", password=PASSWORD))
    response = client.get("/console/")
    assert response.status_code == 403
    assert "此账号不是工作人员账号，不能使用运营管理后台。" in html(response)


def test_home_shows_counts_recent_events_and_admin_link_for_operators(mini, op, clerk_client):
    catalog.base_item_save(actor=None, data=f.item_data("070100003000", "居民身份证换领"))
    response = op.get("/console/")
    page = html(response)
    assert re.findall(r'<th scope="row"><a href="/console/catalog/items\?status=(\w+)">[^<]+</a></th><td class="num">(\d+)</td>', page) == [
        ("draft", "1"),
        ("published", "4"),
        ("withdrawn", "0"),
    ]
    tiles = re.findall(r'<span class="tile-label">([^<]+)</span><span class="tile-value">(\d+)</span>', page)
    assert tiles == [("已发布实施事项", "7"), ("行政区划", "6"), ("部门", "7")]
    assert page.count('<td class="nowrap">') == 20  # newest 20 audit events
    assert '<a href="/console/catalog/items/070100003000">070100003000</a>' in page
    assert '<a href="/console/admin/">高级数据维护</a>' in page

    from django.utils import timezone

    from tongban.org.calendar import next_year_missing

    missing = next_year_missing(timezone.localdate())
    assert (f"{missing} 年的节假日安排尚未录入工作日历" in page) is (missing is not None)

    page = html(clerk_client.get("/console/"))
    assert "节假日安排尚未录入" not in page  # operators maintain the calendar
    assert "高级数据维护" not in page
    assert "最近操作" not in page
    assert re.findall(r'<th scope="row"><a href="/console/catalog/items\?status=(\w+)">[^<]+</a></th><td class="num">(\d+)</td>', page) == [
        ("draft", "0"),
        ("published", "1"),
        ("withdrawn", "0"),
    ]


# --- items list ------------------------------------------------------------------------------


def test_items_list_filters_in_the_url(mini, op):
    assert codes_in_table(op.get("/console/catalog/items")) == ALL_CODES
    assert codes_in_table(op.get("/console/catalog/items", {"q": "社会保障"})) == [CARD]
    assert codes_in_table(op.get("/console/catalog/items", {"q": "0701"})) == [BIRTH, CAR]
    assert codes_in_table(op.get("/console/catalog/items", {"q": "有限责任"})) == [COMPANY]
    assert codes_in_table(op.get("/console/catalog/items", {"item_type": "20"})) == [CARD]
    assert codes_in_table(op.get("/console/catalog/items", {"theme": "birth"})) == [BIRTH]
    response = op.get("/console/catalog/items", {"status": "draft"})
    assert codes_in_table(response) == []
    assert "没有符合条件的事项，请调整筛选条件。" in html(response)


def test_items_list_pages_by_key_without_counting_the_table(mini, op, monkeypatch):
    monkeypatch.setattr(console_views, "PAGE_SIZE", 2)
    with CaptureQueriesContext(connection) as queries:
        first = op.get("/console/catalog/items", {"status": "published"})
    assert codes_in_table(first) == [BIRTH, CAR]
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and "GROUP BY" in counts[0]  # implementations per row of this page only
    next_url = unescape(re.search(r'<a href="([^"]+)" class="btn" rel="next">下一页</a>', html(first)).group(1))
    assert next_url.startswith("?status=published&cursor=")
    second = op.get("/console/catalog/items" + next_url)
    assert codes_in_table(second) == [COMPANY, CARD]
    assert 'rel="next"' not in html(second)
    assert "已是最后一页" in html(second)
    broken = op.get("/console/catalog/items", {"cursor": "!!!"})
    assert "翻页参数无效，请从第一页重新开始。" in html(broken)
    assert codes_in_table(broken) == [BIRTH, CAR]


# --- department staff see their own department only --------------------------------------------


def test_clerk_sees_only_own_department(mini, clerk_client):
    assert codes_in_table(clerk_client.get("/console/catalog/items")) == [BIRTH]
    detail = clerk_client.get(f"/console/catalog/items/{BIRTH}")
    assert detail.status_code == 200
    own = impl_code(BIRTH, mini.police_donghu)
    assert impl_codes_listed(detail) == [own]
    assert impl_code(BIRTH, mini.police_county) not in html(detail)
    assert "修改办事指南" not in html(detail)
    assert 'name="status"' not in html(detail)

    assert clerk_client.get(f"/console/catalog/items/{CAR}").status_code == 404
    assert clerk_client.get(f"/console/catalog/implementations/{impl_code(BIRTH, mini.police_county)}").status_code == 404
    page = clerk_client.get(f"/console/catalog/implementations/{own}")
    assert page.status_code == 200
    assert "/save" not in html(page)
    assert "<dt>办理地点</dt><dd>东湖区政务服务中心</dd>" in html(page)


# --- item detail, edit, create ----------------------------------------------------------------


def test_item_detail_shows_guide_implementations_and_history(mini, op):
    catalog.base_item_save(
        actor=None, data={**catalog.item_snapshot(mini.birth), "conditions": "新的受理条件。"}, expected_version=1, reason="条件调整"
    )
    response = op.get(f"/console/catalog/items/{BIRTH}")
    page = html(response)
    assert "<h1>出生登记（落户）</h1>" in page
    assert impl_codes_listed(response) == sorted(impl_code(BIRTH, d) for d in (mini.police_donghu, mini.police_county, mini.police_wuyuan))
    assert "<td>出生医学证明</td>" in page
    assert (
        '<dt>受理条件</dt><dd><span class="before">1. 申请人符合法定条件。</span> → <span class="after">新的受理条件。</span></dd>' in page
    )
    assert "<td>条件调整</td>" in page
    # Implementations filtered by division (the division and the divisions below it).
    response = op.get(f"/console/catalog/items/{BIRTH}", {"division": mini.nanchang.code})
    assert impl_codes_listed(response) == sorted(impl_code(BIRTH, d) for d in (mini.police_donghu, mini.police_county))
    response = op.get(f"/console/catalog/items/{BIRTH}", {"division": mini.shangrao.code})
    assert impl_codes_listed(response) == [impl_code(BIRTH, mini.police_wuyuan)]
    response = op.get(f"/console/catalog/items/{BIRTH}", {"division": mini.wuyuan.code})
    assert impl_codes_listed(response) == [impl_code(BIRTH, mini.police_wuyuan)]


def test_operator_edits_an_item_version_bumps_and_reason_is_audited(mini, op, operator):
    url = f"/console/catalog/items/{CARD}/edit"
    data = form_data(op.get(url))
    assert data["version"] == ["1"]
    assert "code" not in data  # fixed once saved
    data["summary"] = ["按新规定更新的简介。\r\n第二行。"]
    data["reason"] = ["依据 2026 年新办法更新简介"]
    response = op.post(url, data)
    assert response.status_code == 302
    assert response.url == f"/console/catalog/items/{CARD}"
    item = BaseItem.objects.get(code=CARD)
    assert item.version == 2
    assert item.summary == "按新规定更新的简介。\n第二行。"
    event = AuditEvent.objects.get(action="item.update", object_id=CARD)
    assert event.actor == operator
    assert event.before == {"summary": "社会保障卡申领的办事指南。"}
    assert event.after == {"summary": "按新规定更新的简介。\n第二行。"}
    assert event.reason == "依据 2026 年新办法更新简介"
    assert messages_shown(op.get(response.url)) == ["已保存，当前为第 2 版。"]


def test_edit_needs_a_reason(mini, op):
    url = f"/console/catalog/items/{CARD}/edit"
    data = form_data(op.get(url))
    data["summary"] = ["改了"]
    response = op.post(url, data)
    assert response.status_code == 422
    assert field_errors(response, "id_reason") == ["这个字段是必填项。"]
    assert "改了" in html(response)
    assert BaseItem.objects.get(code=CARD).version == 1


def test_saving_unchanged_item_says_so(mini, op):
    url = f"/console/catalog/items/{CARD}/edit"
    data = form_data(op.get(url))
    data["reason"] = ["核对"]
    response = op.post(url, data, follow=True)
    assert messages_shown(response) == ["内容没有变化，未生成新版本。"]
    assert BaseItem.objects.get(code=CARD).version == 1


def test_stale_version_shows_the_conflict_and_keeps_the_input(mini, op):
    url = f"/console/catalog/items/{CARD}/edit"
    data = form_data(op.get(url))
    catalog.base_item_save(
        actor=None, data={**catalog.item_snapshot(mini.card), "summary": "他人的修改"}, expected_version=1, reason="他人"
    )
    data["summary"] = ["我的修改"]
    data["reason"] = ["我的原因"]
    response = op.post(url, data)
    assert response.status_code == 409
    page = html(response)
    assert '<h2 id="error-summary-title">该事项已被他人修改（当前第 2 版，您编辑的是第 1 版）。请核对对方的修改后重新提交。</h2>' in page
    assert (
        '<dt>事项简介</dt><dd><span class="before">社会保障卡申领的办事指南。</span> → <span class="after">他人的修改</span></dd>' in page
    )
    kept = form_data(response)
    assert kept["summary"] == ["我的修改"]
    assert kept["reason"] == ["我的原因"]
    assert kept["version"] == ["1"]
    item = BaseItem.objects.get(code=CARD)
    assert (item.version, item.summary) == (2, "他人的修改")


def _new_item_form(op) -> dict[str, list[str]]:
    data = form_data(op.get("/console/catalog/items/new"))
    data.update(
        {
            "code": ["070100003000"],
            "name": ["居民身份证换领"],
            "item_type": ["07"],
            "legal_basis": ["《中华人民共和国居民身份证法》第十一条"],
            "conditions": ["居民身份证有效期满。"],
            "service_objects": ["1"],
            "levels": ["4"],
            "aliases": ["换身份证\r\n身份证到期"],
            "themes": ["birth"],
            "materials-0-name": ["居民户口簿"],
            "materials-0-source": ["shared"],
            "steps-0-name": ["受理"],
            "steps-0-description": ["窗口受理并采集人像。"],
            "steps-1-name": ["办结"],
            "steps-1-description": ["制证后领取。"],
            "fees-0-name": ["工本费"],
            "fees-0-standard": ["每证 20 元"],
            "fees-0-amount_fen": ["2000"],
            "fees-0-basis": ["发改价格〔2003〕2322号"],
        }
    )
    return data


def test_operator_creates_an_item_with_materials_steps_and_fees(mini, op, operator):
    response = op.post("/console/catalog/items/new", _new_item_form(op))
    assert response.status_code == 302
    assert response.url == "/console/catalog/items/070100003000"
    item = BaseItem.objects.get(code="070100003000")
    assert (item.status, item.version, item.aliases) == ("draft", 1, ["换身份证", "身份证到期"])
    assert [m.name for m in item.materials.all()] == ["居民户口簿"]
    assert [s.name for s in item.steps.all()] == ["受理", "办结"]
    assert [(fee.name, fee.amount_fen) for fee in item.fees.all()] == [("工本费", 2000)]
    assert [t.code for t in item.themes.all()] == ["birth"]
    assert AuditEvent.objects.get(action="item.create", object_id="070100003000").actor == operator
    detail = op.get(response.url)
    assert '<td class="num">20.00</td>' in html(detail)


def test_rows_can_be_reordered_and_deleted(mini, op):
    url = f"/console/catalog/items/{BIRTH}/edit"
    data = form_data(op.get(url))
    assert data["materials-0-name"] == ["出生医学证明"]
    data["materials-0-ORDER"] = ["2"]
    data["materials-1-ORDER"] = ["1"]
    data["faqs-0-DELETE"] = ["on"]
    data["reason"] = ["调整材料顺序"]
    assert op.post(url, data).status_code == 302
    item = BaseItem.objects.get(code=BIRTH)
    assert [m.name for m in item.materials.all()] == ["父母双方居民户口簿", "出生医学证明"]
    assert item.faqs.count() == 0


def test_add_row_shows_one_more_empty_row_and_saves_nothing(mini, op):
    data = _new_item_form(op)
    data["add"] = ["materials"]
    response = op.post("/console/catalog/items/new", data)
    assert response.status_code == 200
    again = form_data(response)
    assert again["materials-TOTAL_FORMS"] == ["3"]
    assert again["materials-0-name"] == ["居民户口簿"]
    assert again["materials-2-kind"] == ["original"]
    assert again["materials-2-form"] == ["both"]
    assert "error-summary" not in html(response)
    assert not BaseItem.objects.filter(code="070100003000").exists()
    assert op.post("/console/catalog/items/new", again).status_code == 302


def test_service_errors_appear_beside_their_fields(mini, op):
    data = _new_item_form(op)
    data["code"] = ["abc"]
    data["materials-1-name"] = [""]
    data["materials-1-condition"] = ["只填了情形"]
    response = op.post("/console/catalog/items/new", data)
    assert response.status_code == 422
    assert field_errors(response, "id_materials-1-name") == ["这个字段是必填项。"]
    data["materials-1-condition"] = [""]
    response = op.post("/console/catalog/items/new", data)
    assert response.status_code == 422
    assert field_errors(response, "id_code") == ["“事项基本编码”应为 12 位数字或大写字母。"]
    assert "<li>“事项基本编码”应为 12 位数字或大写字母。</li>" in html(response)
    assert form_data(response)["code"] == ["abc"]
    assert not BaseItem.objects.filter(name="居民身份证换领").exists()


def test_creating_an_existing_code_is_refused(mini, op):
    data = _new_item_form(op)
    data["code"] = [CARD]
    response = op.post("/console/catalog/items/new", data)
    assert response.status_code == 422
    assert field_errors(response, "id_code") == ["编码为“200200001000”的事项已存在，请打开该事项修改。"]
    assert BaseItem.objects.get(code=CARD).name == "社会保障卡申领"


# --- publish and withdraw --------------------------------------------------------------------


def test_publish_and_withdraw_a_base_item(mini, op, operator):
    catalog.base_item_save(actor=None, data=f.item_data("070100003000", "居民身份证换领"))
    url = "/console/catalog/items/070100003000/status"
    response = op.post(url, {"status": "published", "reason": ""})
    assert response.status_code == 302
    assert BaseItem.objects.get(code="070100003000").status == "published"
    assert AuditEvent.objects.get(action="item.published", object_id="070100003000").actor == operator

    response = op.post(url, {"status": "withdrawn", "reason": ""})
    assert response.status_code == 422
    assert "撤回事项须填写原因。" in html(response)
    assert BaseItem.objects.get(code="070100003000").status == "published"

    response = op.post(url, {"status": "withdrawn", "reason": "政策调整，暂停办理"})
    assert response.status_code == 302
    assert BaseItem.objects.get(code="070100003000").status == "withdrawn"
    assert AuditEvent.objects.get(action="item.withdrawn", object_id="070100003000").reason == "政策调整，暂停办理"


def test_incomplete_guide_cannot_be_published_and_reason_is_kept(mini, op):
    catalog.base_item_save(actor=None, data=f.item_data("070100003000", "居民身份证换领", materials=[], steps=[]))
    response = op.post("/console/catalog/items/070100003000/status", {"status": "published", "reason": "上线"})
    assert response.status_code == 422
    assert "办事指南不完整，不能发布：缺少申请材料、缺少办理流程。" in html(response)
    assert form_data(response, "/console/catalog/items/070100003000/status")["reason"] == ["上线"]
    assert BaseItem.objects.get(code="070100003000").status == "draft"


def test_publish_and_withdraw_an_implementation(mini, op):
    code = impl_code(BIRTH, mini.police_donghu)
    url = f"/console/catalog/implementations/{code}/status"
    assert op.post(url, {"status": "withdrawn", "reason": ""}).status_code == 422
    assert op.post(url, {"status": "withdrawn", "reason": "窗口搬迁"}).status_code == 302
    assert Implementation.objects.get(code=code).status == "withdrawn"
    assert AuditEvent.objects.get(action="implementation.withdrawn", object_id=code).reason == "窗口搬迁"
    assert op.post(url, {"status": "published"}).status_code == 302
    assert Implementation.objects.get(code=code).status == "published"

    catalog.base_item_save(actor=None, data=f.item_data("070100003000", "居民身份证换领"))
    draft = catalog.implementation_save(actor=None, data=f.impl_data("070100003000", mini.police_donghu))
    response = op.post(f"/console/catalog/implementations/{draft.code}/status", {"status": "published"})
    assert response.status_code == 422
    assert "请先发布对应的基本事项，再发布实施事项。" in html(response)


# --- implementations ---------------------------------------------------------------------------


def test_operator_edits_an_implementation(mini, op, operator):
    code = impl_code(BIRTH, mini.police_donghu)
    save = f"/console/catalog/implementations/{code}/save"
    data = form_data(op.get(f"/console/catalog/implementations/{code}"), save)
    assert "department" not in data and "level" not in data  # part of the code
    data["promised_limit"] = ["3"]
    data["reason"] = ["承诺时限压缩"]
    response = op.post(save, data)
    assert response.status_code == 302
    impl = Implementation.objects.get(code=code)
    assert (impl.version, impl.promised_limit) == (2, 3)
    event = AuditEvent.objects.get(action="implementation.update", object_id=code)
    assert (event.before, event.after, event.reason, event.actor) == (
        {"promised_limit": 5},
        {"promised_limit": 3},
        "承诺时限压缩",
        operator,
    )

    data["promised_limit"] = ["4"]  # still version 1 in the form: stale
    response = op.post(save, data)
    assert response.status_code == 409
    assert "该实施事项已被他人修改（当前第 2 版，您编辑的是第 1 版）。请核对对方的修改后重新提交。" in html(response)
    assert form_data(response, save)["promised_limit"] == ["4"]

    data["version"] = ["2"]
    data["promised_limit"] = ["30"]  # longer than the legal limit
    response = op.post(save, data)
    assert response.status_code == 422
    assert field_errors(response, "id_promised_limit") == ["“承诺办结时限”不能长于“法定办结时限”。"]
    assert Implementation.objects.get(code=code).promised_limit == 3


def test_operator_creates_an_implementation_by_picking_a_department(mini, op):
    base = f"/console/catalog/items/{CAR}/implementations/new"
    lookup = html(op.get(base, {"dq": "东湖"}))
    assert re.findall(r'<a href="\?department=([0-9A-Z]{18})">选用</a>', lookup) == [
        mini.police_donghu.credit_code,
        mini.market_donghu.credit_code,
    ]
    assert form_data(op.get(base), base)["level"] == [""]  # no department picked yet: no level guessed
    page = op.get(base, {"department": mini.market_donghu.credit_code})
    action = f"{base}?department={mini.market_donghu.credit_code}"
    data = form_data(page, action)
    assert data["department"] == [mini.market_donghu.credit_code]
    assert data["level"] == ["4"]
    data.update(
        {
            "legal_limit": ["20"],
            "promised_limit": ["5"],
            "handling_forms": ["window"],
            "place": ["东湖区政务服务中心 3 号窗口"],
            "hours": ["周一至周五 9:00—17:00"],
            "consult_channel": ["0791-86000000"],
            "complaint_channel": ["12345"],
        }
    )
    data["level"] = ["3"]
    response = op.post(action, data)
    assert response.status_code == 422
    assert "行使层级与实施主体所在区划不符（东湖区市场监管局属于县级）。" in html(response)
    assert form_data(response, action)["place"] == ["东湖区政务服务中心 3 号窗口"]

    data["level"] = ["4"]
    response = op.post(action, data)
    code = impl_code(CAR, mini.market_donghu)
    assert response.status_code == 302
    assert response.url == f"/console/catalog/implementations/{code}"
    impl = Implementation.objects.get(code=code)
    assert (impl.status, impl.version, impl.handling_forms, impl.division) == ("draft", 1, ["window"], mini.donghu)

    response = op.post(action, data)
    assert response.status_code == 422
    assert field_errors(response, "id_department") == ["该部门在此层级已有这一事项的实施清单，请打开它修改。"]


# --- import and export -------------------------------------------------------------------------


def _counts() -> tuple[int, int, int]:
    return BaseItem.objects.count(), Implementation.objects.count(), AuditEvent.objects.count()


def test_import_of_a_good_json_file(mini, op):
    payload = {
        "format": "tongban-catalog/1",
        "items": [f.item_data("070100003000", "居民身份证换领")],
        "implementations": [f.impl_data("070100003000", mini.police_donghu)],
    }
    upload = SimpleUploadedFile("catalog.json", json.dumps(payload, ensure_ascii=False).encode(), content_type="application/json")
    response = op.post("/console/catalog/import", {"file": upload})
    assert response.status_code == 302
    assert response.url == "/console/catalog/import"
    assert messages_shown(op.get(response.url)) == [
        "“catalog.json”已导入：新建事项 1 项，更新事项 0 项；新建实施事项 1 项，更新实施事项 0 项。"
    ]
    assert BaseItem.objects.get(code="070100003000").name == "居民身份证换领"
    assert Implementation.objects.filter(code=impl_code("070100003000", mini.police_donghu)).exists()


def test_xlsx_round_trip_export_then_import(mini, op):
    exported = op.get("/console/catalog/export", {"format": "xlsx"})
    assert exported.status_code == 200
    catalog.base_item_save(actor=None, data={**catalog.item_snapshot(mini.card), "summary": "导出后改过"}, expected_version=1)
    upload = SimpleUploadedFile("roundtrip.xlsx", exported.content)
    response = op.post("/console/catalog/import", {"file": upload}, follow=True)
    assert messages_shown(response) == ["“roundtrip.xlsx”已导入：新建事项 0 项，更新事项 4 项；新建实施事项 0 项，更新实施事项 7 项。"]
    card = BaseItem.objects.get(code=CARD)
    assert (card.summary, card.version) == ("社会保障卡申领的办事指南。", 3)
    # Nothing else differed from the export, so nothing else got a new version.
    assert sorted(BaseItem.objects.filter(version__gt=1).values_list("code", flat=True)) == [CARD]
    assert not Implementation.objects.filter(version__gt=1).exists()


def test_bad_file_shows_the_row_report_and_imports_nothing(mini, op):
    before = _counts()
    payload = {
        "format": "tongban-catalog/1",
        "items": [f.item_data("070100003000", "居民身份证换领"), f.item_data("070100004000", "临时身份证", item_type="99")],
        "implementations": [f.impl_data("070100003000", mini.police_donghu, level=3)],
    }
    upload = SimpleUploadedFile("bad.json", json.dumps(payload, ensure_ascii=False).encode())
    response = op.post("/console/catalog/import", {"file": upload})
    assert response.status_code == 422
    page = html(response)
    assert '<h3 id="refused-title">未导入任何数据</h3>' in page
    assert "导入文件有 2 处错误，已整体拒绝，未导入任何数据。请按逐行报告修改后重新导入。" in page
    rows = re.findall(r'<tr><td>([^<]+)</td><td class="num">(\d+)</td><td>([^<]+)</td></tr>', page)
    assert rows == [
        ("事项", "2", "“事项类型”取值“99”无效，可选：01、02、03、04、05、06、07、08、09、10、20。"),
        ("实施清单", "1", "行使层级与实施主体所在区划不符（东湖区公安局属于县级）。"),
    ]
    assert _counts() == before


def test_unreadable_files_are_refused(mini, op, settings):
    before = _counts()
    response = op.post("/console/catalog/import", {"file": SimpleUploadedFile("broken.json", b'{"format": ')})
    assert response.status_code == 422
    assert re.findall(r'<tr><td>([^<]+)</td><td class="num">(\d+)</td><td>([^<]+)</td></tr>', html(response)) == [
        ("文件", "1", "JSON 格式错误（第 12 列）：Expecting value。")
    ]
    response = op.post("/console/catalog/import", {"file": SimpleUploadedFile("broken.xlsx", b"not a workbook")})
    assert "无法读取该 Excel 文件，请确认是 .xlsx 格式且未加密。" in html(response)

    workbook = Workbook()
    workbook.active.title = "杂项"
    out = io.BytesIO()
    workbook.save(out)
    response = op.post("/console/catalog/import", {"file": SimpleUploadedFile("odd.xlsx", out.getvalue())})
    assert response.status_code == 422
    assert re.findall(r'<tr><td>([^<]+)</td><td class="num">(\d+)</td><td>([^<]+)</td></tr>', unescape(html(response))) == [
        ("工作表“杂项”", "1", "无法识别的工作表，可用的工作表：事项、办理流程、实施清单、常见问题、收费、申请材料。")
    ]

    response = op.post("/console/catalog/import", {"file": SimpleUploadedFile("catalog.csv", b"code,name")})
    assert field_errors(response, "id_file") == ["只能导入 .json 或 .xlsx 文件。"]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    response = op.post("/console/catalog/import", {"file": SimpleUploadedFile("big.json", b" " * 3000)})
    assert field_errors(response, "id_file") == ["文件不能超过 2 KB（所选文件 3 KB），请拆分后分批导入。"]
    assert _counts() == before


def test_export_downloads_parse(mini, op):
    catalog.base_item_save(actor=None, data=f.item_data("070100003000", "居民身份证换领"))
    stamp = timezone.localdate().strftime("%Y%m%d")

    response = op.get("/console/catalog/export", {"format": "json"})
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="tongban-catalog-{stamp}.json"'
    payload = json.loads(response.content)
    assert payload["format"] == "tongban-catalog/1"
    assert [i["code"] for i in payload["items"]] == [BIRTH, CAR, "070100003000", COMPANY, CARD]
    assert len(payload["implementations"]) == 7

    response = op.get("/console/catalog/export", {"format": "json", "published_only": "on"})
    assert response["Content-Disposition"] == f'attachment; filename="tongban-catalog-published-{stamp}.json"'
    assert [i["code"] for i in json.loads(response.content)["items"]] == ALL_CODES

    response = op.get("/console/catalog/export", {"format": "xlsx"})
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"] == f'attachment; filename="tongban-catalog-{stamp}.xlsx"'
    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    assert workbook.sheetnames == ["事项", "申请材料", "办理流程", "收费", "常见问题", "实施清单"]
    assert [row[0] for row in workbook["事项"].iter_rows(min_row=2, values_only=True)] == [BIRTH, CAR, "070100003000", COMPANY, CARD]

    template = op.get("/console/catalog/import/template")
    assert template["Content-Disposition"] == 'attachment; filename="tongban-catalog-template.xlsx"'
    workbook = load_workbook(io.BytesIO(template.content), read_only=True)
    assert workbook.sheetnames == ["事项", "申请材料", "办理流程", "收费", "常见问题", "实施清单"]
    assert next(workbook["事项"].iter_rows(values_only=True))[:2] == ("事项基本编码", "事项名称")
    assert len(list(workbook["实施清单"].iter_rows(values_only=True))) == 1

    assert op.get("/console/catalog/export", {"format": "csv"}).status_code == 422


# --- calendar ---------------------------------------------------------------------------------


def test_calendar_add_change_delete_and_year(mini, op, operator):
    response = op.post("/console/calendar/override", {"date": "2027-02-06", "is_workday": "1", "note": "春节调休上班"})
    assert response.status_code == 302
    assert response.url == "/console/calendar?year=2027"
    override = WorkdayOverride.objects.get(date="2027-02-06")
    assert (override.is_workday, override.note) == (True, "春节调休上班")
    assert AuditEvent.objects.get(action="calendar.override_set").actor == operator

    page = html(op.get("/console/calendar", {"year": "2027"}))
    assert '<td class="nowrap">2027-02-06</td>\n        <td>星期六</td>' in page
    edit = form_data(op.get("/console/calendar", {"year": "2027", "edit": "2027-02-06"}), "/console/calendar/override")
    assert (edit["date"], edit["is_workday"], edit["note"]) == (["2027-02-06"], ["1"], ["春节调休上班"])

    op.post("/console/calendar/override", {"date": "2027-02-06", "is_workday": "0", "note": "改为放假"})
    override.refresh_from_db()
    assert (override.is_workday, override.note) == (False, "改为放假")

    response = op.post("/console/calendar/override", {"date": "2027-02-07", "is_workday": "0", "note": ""})
    assert response.status_code == 422
    assert field_errors(response, "id_note") == ["这个字段是必填项。"]

    response = op.post("/console/calendar/override/delete", {"date": "2027-02-06"})
    assert response.url == "/console/calendar?year=2027"
    assert not WorkdayOverride.objects.exists()
    assert AuditEvent.objects.filter(action="calendar.override_delete").count() == 1

    response = op.post("/console/calendar/year", {"year": "2027", "source": "国办发明电〔2026〕7号", "complete": "on"})
    assert response.url == "/console/calendar?year=2027"
    row = CalendarYear.objects.get(year=2027)
    assert (row.source, row.complete) == ("国办发明电〔2026〕7号", True)
    assert "已完整录入" in html(op.get("/console/calendar", {"year": "2027"}))


def test_calendar_counts_working_days_or_says_the_year_is_unknown(mini, op):
    page = html(op.get("/console/calendar", {"year": "2026", "start": "2026-02-12", "days": "5"}))
    assert "自 2026年2月12日 起 5 个工作日后为 <strong>2026年2月26日</strong>（星期四）。" in page
    page = html(op.get("/console/calendar", {"year": "2099", "start": "2099-01-01", "days": "1"}))
    assert (
        "2099 年的节假日安排尚未录入工作日历，无法计算 2099-01-02 是否为工作日。请运营人员按国务院办公厅通知在“工作日历”中录入该年度安排。"
        in unescape(page)
    )


# --- zones and synonyms -------------------------------------------------------------------------


def test_zone_create_and_edit_keeps_the_order(mini, op):
    data = form_data(op.get("/console/catalog/zones/new"))
    data.update({"code": ["newborn"], "name": ["新生儿出生一件事"], "kind": ["theme"], "status": ["published"], "sort": ["1"]})
    data["item_codes"] = [f"{CARD}\r\n{BIRTH}"]
    response = op.post("/console/catalog/zones/new", data)
    assert response.status_code == 302
    assert response.url == "/console/catalog/zones/newborn"
    zone = Zone.objects.get(code="newborn")
    assert list(zone.entries.values_list("item__code", flat=True)) == [CARD, BIRTH]
    assert zone.status == "published"

    data = form_data(op.get("/console/catalog/zones/newborn"))
    assert data["item_codes"] == [f"{CARD}\n{BIRTH}"]
    data["item_codes"] = [f"{BIRTH}\n999999999999\n{CARD}"]
    response = op.post("/console/catalog/zones/newborn", data)
    assert response.status_code == 422
    assert field_errors(response, "id_item_codes") == ["专区中的事项不存在：999999999999。"]
    assert form_data(response)["item_codes"] == [f"{BIRTH}\n999999999999\n{CARD}"]
    assert list(zone.entries.values_list("item__code", flat=True)) == [CARD, BIRTH]

    data["item_codes"] = [f"{BIRTH}\n{CARD}\n{COMPANY}"]
    assert op.post("/console/catalog/zones/newborn", data).status_code == 302
    assert list(zone.entries.values_list("item__code", flat=True)) == [BIRTH, CARD, COMPANY]
    page = html(op.get("/console/catalog/zones"))
    assert '<td><a href="/console/catalog/zones/newborn">新生儿出生一件事</a></td>' in page

    response = op.post("/console/catalog/zones/new", {**data, "code": ["newborn"]})
    assert field_errors(response, "id_code") == ["编码为“newborn”的专区已存在。"]


def test_synonyms_add_and_change(mini, op, operator):
    response = op.post("/console/catalog/synonyms", {"term": "医保", "expansions": "医疗保障\r\n医疗保险"})
    assert response.status_code == 302
    assert Synonym.objects.get(term="医保").expansions == ["医疗保障", "医疗保险"]
    assert AuditEvent.objects.get(action="synonym.set", object_id="医保").actor == operator

    data = form_data(op.get("/console/catalog/synonyms", {"term": "社保"}), "/console/catalog/synonyms")
    assert data["expansions"] == ["社会保障"]
    data["expansions"] = ["社会保障\n社会保险"]
    response = op.post("/console/catalog/synonyms", data, follow=True)
    assert messages_shown(response) == ["已保存：搜索“社保”时也查找“社会保障、社会保险”。搜索索引将随后更新。"]
    assert Synonym.objects.get(term="社保").expansions == ["社会保障", "社会保险"]

    response = op.post("/console/catalog/synonyms", {"term": "公积金", "expansions": "  "})
    assert response.status_code == 422
    assert field_errors(response, "id_expansions") == ["这个字段是必填项。"]
    page = html(op.get("/console/catalog/synonyms", {"q": "户"}))
    assert re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td>", page) == [("户口", "户籍、落户")]
