"""The message centre pages of the operator console, through the Django test client against the
real database: volumes, failures and re-drives, the sandbox SMS log, the support lookup, templates
and department systems, and the `tongban api-client` command.

Messages are sent with the real service and delivered by the real worker and the sandbox SMS
gateway, whose test numbers fail the same way every time (13900000004 refused at once,
13900000003 undeliverable on receipt).
"""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from tests.test_console import form_data
from tongban.common.models import AuditEvent
from tongban.identity import services as identity
from tongban.identity.models import ApiClient
from tongban.messaging import services
from tongban.messaging.models import Callback, Delivery, Template
from tongban.messaging.sandbox import sandbox_report_due
from tongban.web.console import urls as console_urls

CITIZEN_MOBILE = "13812345678"


# --- personas and helpers ------------------------------------------------------------------------


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


@pytest.fixture
def blocked(db):
    """A citizen whose number the sandbox gateway refuses at once; mail reaches them."""
    return identity.citizen_account_upsert(
        actor=None, username="blocked", password="x-Test-2026", display_name="王五", mobile="13900000004", email="wangwu@example.cn"
    )


@pytest.fixture
def unreachable(db):
    """A citizen whose number turns out undeliverable on receipt (空号), and who has no e-mail."""
    return identity.citizen_account_upsert(
        actor=None, username="unreachable", password="x-Test-2026", display_name="赵六", mobile="13900000003"
    )


def send(recipient, *, count: int = 1, template: str = "case-progress", data: dict | None = None) -> list:
    sent = []
    with transaction.atomic():
        for n in range(count):
            payload = data or {"item": "出生登记", "case_code": f"ABC-{n + 1}", "step": "受理", "link": "/"}
            sent.append(services.message_send(recipient=recipient, template=template, data=payload, reason="test"))
    return sent


def drain() -> None:
    """Run every queued task that is due, as the worker does (claim, run, record), until none is
    left. Worker.run() itself would also close old connections, which ends the test's transaction."""
    worker = Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="t",
        excluded_queue_names=[],
    )
    for _ in range(10):
        batch = list(DBTaskResult.objects.ready().filter(backend_name="default").order_by("priority", "enqueued_at")[:1000])
        if not batch:
            return
        for task_result in batch:
            task_result.claim(worker.worker_id)
            worker.run_task(task_result)


def report_receipts() -> None:
    """The sandbox gateway reports its receipts straight to the platform's receipt service."""

    def transport(url: str, body: bytes, headers: dict[str, str]) -> int:
        services.receipts_record(provider_name="sandbox-sms", body=body, headers=headers)
        return 200

    sandbox_report_due(transport=transport)
    drain()


def known_traffic(citizen, blocked, unreachable) -> None:
    """2 messages to the citizen (inbox and SMS delivered), 1 to a blocked number (SMS refused,
    falls back to e-mail: sent), 1 to an undeliverable number (SMS fails on receipt, falls back to
    e-mail: no address, failed), and 1 to the citizen three days ago."""
    send(citizen, count=2)
    send(blocked)
    send(unreachable)
    old = send(citizen)[0]
    drain()
    report_receipts()
    Delivery.objects.filter(message=old).update(created_at=timezone.now() - timedelta(days=3))


def html(response) -> str:
    return response.content.decode()


def table(response, table_id: str) -> list[list[str]]:
    """The text of each row's cells in the table with this id (header and footer rows included)."""
    match = re.search(rf'<table[^>]*id="{table_id}"[^>]*>(.*?)</table>', html(response), re.S)
    assert match, table_id
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", match.group(1), re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        rows.append([" ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells])
    return rows


def audit_actions(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


# --- who may use the pages -----------------------------------------------------------------------

GET_PAGES = {
    "messages",
    "message_failures",
    "message_sandbox",
    "message_support",
    "message_templates",
    "message_template_new",
    "message_template",
    "message_template_edit",
    "message_clients",
}
POST_ONLY = {"message_delivery_redrive", "message_callback_redrive"}
SAMPLE = {
    "message_template": {"code": "case-progress"},
    "message_template_edit": {"code": "case-progress"},
    "message_delivery_redrive": {"delivery_id": 1},
    "message_callback_redrive": {"callback_id": 1},
}


def _message_routes() -> list[tuple[str, str, object]]:
    return [
        (p.name, reverse(f"console:{p.name}", kwargs=SAMPLE.get(p.name)), p.callback)
        for p in console_urls.urlpatterns
        if p.name and p.name.startswith("message")
    ]


def test_the_message_routes_are_all_operator_only(db):
    routes = _message_routes()
    assert {name for name, _url, _view in routes} == GET_PAGES | POST_ONLY
    assert all(getattr(view, "operator_only", False) for _name, _url, view in routes)


def test_anonymous_visitors_go_to_the_console_login(templates, client):
    for name, url, _view in _message_routes():
        for response in (client.get(url), client.post(url, {"reason": "x"})):
            assert response.status_code == 302, name
            assert response.url == f"/console/login?next={url}", name


def test_clerks_get_403_on_every_page_and_every_post(mini, templates, citizen, blocked, clerk_client):
    send(blocked)
    drain()
    failed = Delivery.objects.get(channel="sms", state="failed")
    events = AuditEvent.objects.count()
    posts = {
        "message_delivery_redrive": (reverse("console:message_delivery_redrive", args=[failed.pk]), {"reason": "试图重投"}),
        "message_support": (reverse("console:message_support"), {"who": "zhangxm", "reason": "试图查看"}),
        "message_clients": (reverse("console:message_clients"), {"name": "冒名系统", "department": mini.police_donghu.credit_code}),
        "message_template_new": (reverse("console:message_template_new"), {"code": "sneaky", "name": "冒名", "category": "policy"}),
    }
    for name, url, _view in _message_routes():
        response = clerk_client.get(url)
        assert response.status_code == 403, name
        assert "只有平台运营人员可以进行此操作。" in html(response)
        post_url, data = posts.get(name, (url, {"reason": "试图操作"}))
        assert clerk_client.post(post_url, data).status_code == 403, name
    assert AuditEvent.objects.count() == events
    assert Delivery.objects.get(pk=failed.pk).state == "failed"
    assert not ApiClient.objects.exists()
    assert not Template.objects.filter(code="sneaky").exists()


def test_operators_get_every_page_without_inline_script_or_style(templates, op):
    for name, url, _view in _message_routes():
        response = op.get(url)
        if name in POST_ONLY:
            assert response.status_code == 405, name
            continue
        assert response.status_code == 200, name
        assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
        page = html(response)
        assert 'style="' not in page and "<style" not in page, name
        assert re.findall(r"<script(?![^>]*\bsrc=)", page) == [], name
        assert '<a href="/console/messages/" accesskey="7" aria-current="page">消息中心</a>' in page, name


def test_unknown_template_is_404(templates, op):
    assert op.get("/console/messages/templates/no-such-thing").status_code == 404
    assert op.get("/console/messages/templates/no-such-thing/edit").status_code == 404


# --- 1. overview ---------------------------------------------------------------------------------


def test_overview_counts_a_known_set_of_deliveries(templates, citizen, blocked, unreachable, op):
    known_traffic(citizen, blocked, unreachable)
    response = op.get("/console/messages/")
    assert response.status_code == 200
    assert table(response, "channel-table") == [
        ["通道", "投递总数", "已送达", "失败（含过期）", "处理中", "送达率"],
        ["电子邮件", "2", "0", "1", "1", "0.0%"],
        ["站内消息", "4", "4", "0", "0", "100.0%"],
        ["短信", "4", "2", "2", "0", "50.0%"],
        ["合计", "10", "6", "3", "1", "66.7%"],
    ]
    page = html(response)
    # The bars say the same in text, for people who cannot see them.
    assert "共 4：送达 2，失败 2，处理中 0" in page
    assert '<span class="bar pct-100"><span class="seg seg-ok pct-50"></span><span class="seg seg-bad pct-50"></span>' in page
    assert table(response, "template-table")[1] == ["办件进度通知", "case-progress", "10", "6", "3", "1", "66.7%"]
    assert sorted(table(response, "failure-table")[1:]) == [
        ["电子邮件", "no_address", "收件人未登记电子邮箱", "1"],
        ["短信", "MK:0004", "空号", "1"],
        ["短信", "isv.BLACK_KEY_CONTROL_LIMIT", "号码在黑名单中", "1"],
    ]

    week = op.get("/console/messages/", {"hours": "168"})
    assert "最近 7 天" in html(week)
    assert table(week, "channel-table")[-1] == ["合计", "12", "8", "3", "1", "72.7%"]
    assert table(op.get("/console/messages/", {"hours": "9999"}), "channel-table")[-1][1] == "10"  # back to 24 hours


def test_overview_says_when_nothing_was_sent(templates, op):
    page = html(op.get("/console/messages/"))
    assert "最近 24 小时内没有投递。" in page
    assert "最近 24 小时内没有失败的投递。" in page


def test_overview_and_failures_queries_do_not_grow_with_rows(templates, citizen, blocked, unreachable, op, django_assert_max_num_queries):
    known_traffic(citizen, blocked, unreachable)
    # Signing in costs the same on every page: the session, the account, and the session saved
    # again (SESSION_SAVE_EVERY_REQUEST, in a savepoint). The pages add a fixed number on top.
    frame = 5
    op.get("/console/messages/")
    with django_assert_max_num_queries(frame + 3):  # volumes per channel, per template, per reason
        assert op.get("/console/messages/").status_code == 200
    with django_assert_max_num_queries(frame + 2):  # failed deliveries, failed callbacks
        assert op.get("/console/messages/failures").status_code == 200
    send(blocked, count=6)
    send(unreachable, count=6)
    send(citizen, template="new-service", data={"service": "新生儿落户", "link": "/"})
    drain()
    report_receipts()
    assert Delivery.objects.filter(state="failed").count() > 20
    with django_assert_max_num_queries(frame + 3):
        assert op.get("/console/messages/").status_code == 200
    with django_assert_max_num_queries(frame + 2):
        assert op.get("/console/messages/failures").status_code == 200


# --- 2. failures and re-drives -------------------------------------------------------------------


def test_failures_list_newest_first_with_masked_addresses(templates, citizen, blocked, unreachable, op):
    known_traffic(citizen, blocked, unreachable)
    rows = table(op.get("/console/messages/failures"), "delivery-table")
    assert [r[2:6] for r in rows[1:]] == [
        ["电子邮件", "—", "发送失败 收件人未登记电子邮箱 no_address", "0"],
        ["短信", "139****0003", "发送失败 空号 MK:0004", "1"],
        ["短信", "139****0004", "发送失败 号码在黑名单中 isv.BLACK_KEY_CONTROL_LIMIT", "1"],
    ]
    assert rows[1][1] == "办件进度通知 case-progress"
    page = html(op.get("/console/messages/failures"))
    assert "13900000004" not in page and "13900000003" not in page


def test_failures_page_by_cursor(templates, blocked, op, monkeypatch):
    from tongban.web.console import messaging_views

    send(blocked, count=3)
    drain()
    monkeypatch.setattr(messaging_views, "PAGE_SIZE", 2)
    first = op.get("/console/messages/failures")
    ids = re.findall(r'<tr id="delivery-(\d+)">', html(first))
    assert len(ids) == 2
    next_url = re.search(r'<a class="btn" href="(\?cursor=[^"]+)" rel="next">', html(first)).group(1)
    second = op.get("/console/messages/failures" + unescape(next_url))
    more = re.findall(r'<tr id="delivery-(\d+)">', html(second))
    assert len(more) == 1 and int(more[0]) < int(ids[-1])
    assert '<a class="btn btn-quiet" href="?">回到第一页</a>' in html(second)
    bad = op.get("/console/messages/failures", {"cursor": "not-a-cursor"})
    assert "翻页参数无效，请从第一页重新开始。" in html(bad)
    assert len(re.findall(r'<tr id="delivery-(\d+)">', html(bad))) == 2


def test_redrive_puts_a_failed_delivery_back_and_audits_it(templates, citizen, blocked, op, operator):
    send(citizen)
    send(blocked)
    drain()
    report_receipts()
    failed = Delivery.objects.get(channel="sms", state="failed")
    url = f"/console/messages/deliveries/{failed.pk}/redrive"
    data = form_data(op.get("/console/messages/failures"), url)
    assert data["reason"] == [""]

    response = op.post(url, {**data, "reason": ["  "]})
    assert response.status_code == 422
    assert "请填写原因，例如“短信通道故障已恢复”。" in html(response)
    assert Delivery.objects.get(pk=failed.pk).state == "failed"

    response = op.post(url, {**data, "reason": ["短信通道故障已恢复"]})
    assert response.status_code == 302 and response.url == "/console/messages/failures"
    failed.refresh_from_db()
    assert (failed.state, failed.attempts, failed.failure_code) == ("created", 0, "")
    (event,) = audit_actions("message_delivery.redrive")
    assert (event.actor, event.reason, event.before["state"], event.after) == (
        operator,
        "短信通道故障已恢复",
        "failed",
        {"state": "created"},
    )
    assert "已重新排队投递（短信 139****0004）" in html(op.get("/console/messages/failures"))


def test_redrive_of_a_delivered_delivery_is_refused(templates, citizen, op):
    send(citizen)
    drain()
    report_receipts()
    delivered = Delivery.objects.get(channel="sms")
    assert delivered.state == "delivered"
    response = op.post(f"/console/messages/deliveries/{delivered.pk}/redrive", {"reason": "再发一次"})
    assert response.status_code == 409
    assert "只有发送失败或已过期的投递才能重新投递。" in html(response)
    assert Delivery.objects.get(pk=delivered.pk).state == "delivered"
    assert not audit_actions("message_delivery.redrive")
    assert op.post("/console/messages/deliveries/999999/redrive", {"reason": "x"}).status_code == 404


def test_failed_callbacks_are_listed_and_redriven(mini, templates, citizen, op, operator):
    client, _keys = identity.api_client_create(
        actor=None, name="东湖区公安业务系统", department=mini.police_donghu, callback_url="https://gaj.example.cn/tongban"
    )
    send(citizen)
    delivery = Delivery.objects.get(channel="inbox")
    callback = Callback.objects.create(
        client=client,
        delivery=delivery,
        payload={"message_id": "m", "reference": "GA-2026-1", "channel": "inbox", "status": "delivered"},
        state=Callback.State.FAILED,
        attempts=8,
        last_error="HTTP 503",
    )
    page = op.get("/console/messages/failures")
    rows = table(page, "callback-table")
    assert rows[1][1:5] == ["东湖区公安业务系统 https://gaj.example.cn/tongban", "站内消息 · 已送达 业务编号 GA-2026-1", "8", "HTTP 503"]
    url = f"/console/messages/callbacks/{callback.pk}/redrive"
    assert op.post(url, {"reason": ""}).status_code == 422
    response = op.post(url, {"reason": "对方接收服务已恢复"})
    assert response.status_code == 302
    callback.refresh_from_db()
    assert (callback.state, callback.attempts) == ("pending", 0)
    (event,) = audit_actions("message_callback.redrive")
    assert (event.actor, event.reason) == (operator, "对方接收服务已恢复")
    response = op.post(url, {"reason": "再推一次"})
    assert response.status_code == 409
    assert "只有推送失败的回调才能重新推送。" in html(response)


# --- 3. sandbox SMS ------------------------------------------------------------------------------


def test_sandbox_page_shows_what_the_gateway_sent(templates, citizen, unreachable, op):
    send(citizen)
    send(unreachable)
    drain()
    response = op.get("/console/messages/sandbox-sms")
    page = html(response)
    assert "这里是沙箱短信网关，不是真实短信。" in page
    for number in ("13900000001", "13900000002", "13900000003", "13900000004"):
        assert f'<span class="code">{number}</span>' in page
    rows = table(response, "sandbox-table")
    assert [r[1:] for r in rows[1:]] == [
        ["139****0003", "【通办】您申请的出生登记已进入受理环节，可登录通办查看。", "1", "失败 MK:0004 空号", "未回执"],
        ["138****5678", "【通办】您申请的出生登记已进入受理环节，可登录通办查看。", "1", "已送达", "未回执"],
    ]
    assert CITIZEN_MOBILE not in page
    report_receipts()
    assert [r[-1].split(" ")[0] for r in table(op.get("/console/messages/sandbox-sms"), "sandbox-table")[1:]] == ["已回执", "已回执"]


# --- 4. support lookup ---------------------------------------------------------------------------


def test_support_lookup_needs_a_reason_and_writes_nothing_without_one(templates, citizen, op):
    response = op.post("/console/messages/support", {"who": "zhangxm", "reason": ""})
    assert response.status_code == 422
    assert "请填写查询事由：查看他人的消息记录须说明原因。" in html(response)
    assert 'value="zhangxm"' in html(response)  # what was typed is kept
    assert not audit_actions("message.support_view")


def test_support_lookup_shows_masked_messages_and_hides_security_bodies(templates, citizen, op, operator):
    send(citizen)
    send(citizen, template="account-changed", data={"change": "修改登录密码", "when": "11月22日10:05"})
    send(citizen, template="account-otp", data={"code": "482913", "purpose": "登录", "minutes": 5})
    drain()
    response = op.post("/console/messages/support", {"who": "zhangxm", "reason": "12345 工单：反映收不到短信"})
    assert response.status_code == 200
    (event,) = audit_actions("message.support_view")
    assert (event.actor, event.reason, event.object_id) == (operator, "12345 工单：反映收不到短信", str(citizen.public_id))
    assert event.after == {"query": "zhangxm", "found": True}
    page = html(response)
    rows = table(response, "support-table")
    assert [r[1:4] for r in rows[1:]] == [
        ["短信验证码 account-otp", "账户安全", "已发出"],
        ["账户变更提醒 account-changed", "账户安全", "已送达"],
        ["办件进度通知 case-progress", "办件进度", "已送达"],
    ]
    assert rows[1][5] == rows[2][5] == "（安全类消息内容不予显示）"
    assert rows[3][5] == "出生登记：受理 您申请的“出生登记”（办件编号 ABC-1）已进入“受理”环节。"
    assert rows[3][4] == "站内消息：已送达 短信：已发出 138****5678"
    assert "482913" not in page and "修改登录密码" not in page
    assert CITIZEN_MOBILE not in page and "zhangxm@example.cn" not in page
    assert "张**" in page and "138****5678" in page


def test_support_lookup_by_mobile_number_and_unknown_user(templates, citizen, other_citizen, op):
    send(other_citizen)
    response = op.post("/console/messages/support", {"who": "139 8765 4321", "reason": "来电核实"})
    assert response.status_code == 200
    assert "李*" in html(response)
    assert len(table(response, "support-table")) == 2
    response = op.post("/console/messages/support", {"who": "13700000000", "reason": "来电核实"})
    assert response.status_code == 404
    assert "没有找到这个用户名或手机号码对应的账号，请核对后再查。" in html(response)
    events = audit_actions("message.support_view")
    assert [(e.object_id, e.after) for e in events] == [
        (str(other_citizen.public_id), {"query": "139****4321", "found": True}),
        ("", {"query": "137****0000", "found": False}),
    ]


# --- 5. templates --------------------------------------------------------------------------------


def test_template_list_and_detail(templates, op):
    rows = table(op.get("/console/messages/templates"), "template-list")
    assert rows[0] == ["代码", "名称", "类别", "当前版本", "通道", "所属部门", "状态"]
    assert ["case-progress", "办件进度通知 内置", "办件进度", "第 1 版", "站内消息、短信、电子邮件", "平台", "启用"] in rows
    page = html(op.get("/console/messages/templates/case-progress"))
    assert "您申请的${item}已进入${step}环节，可登录通办查看。" in page
    assert "短信最长可达 <strong>64</strong> 字（含签名，各占位符按最大长度计），计 <strong>1</strong> 条计费短信" in page
    assert table(op.get("/console/messages/templates/case-progress"), "version-table")[1][:2] == ["第 1 版 当前", "系统"]


def test_operator_creates_a_template(mini, templates, op, operator):
    data = {
        "code": "tax-refund",
        "name": "退税到账提醒",
        "category": "case_progress",
        "placeholders": "amount:number:金额:10\nday:date:到账日",
        "inbox_title": "退税到账",
        "inbox_body": "您的退税 ${amount} 元已于 ${day} 到账。",
        "sms_body": "您的退税${amount}元已于${day}到账。",
        "fallback": "sms>inbox",
        "ttl_minutes": "60",
        "department": mini.hrss_province.credit_code,
        "note": "首版",
    }
    response = op.post("/console/messages/templates/new", data)
    assert response.status_code == 302 and response.url == "/console/messages/templates/tax-refund"
    template = Template.objects.get(code="tax-refund")
    assert (template.current_version, template.department, template.fallback, template.ttl_minutes) == (
        1,
        mini.hrss_province,
        {"sms": ["inbox"]},
        60,
    )
    version = template.versions.get()
    assert version.placeholders == [
        {"name": "amount", "type": "number", "label": "金额", "max_length": 10},
        {"name": "day", "type": "date", "label": "到账日", "max_length": 11},
    ]
    assert version.created_by == operator
    page = html(op.get(response.url))
    assert "已创建消息模板“退税到账提醒”（第 1 版）。" in page
    assert "计 <strong>1</strong> 条计费短信" in page

    again = op.post("/console/messages/templates/new", data)
    assert again.status_code == 422
    assert "已有这个代码的模板；要修改它，请到该模板页面“添加新版本”。" in html(again)


def test_template_errors_are_shown_in_chinese_with_the_worst_case(templates, op):
    base = {"code": "long-one", "name": "很长的短信", "category": "policy", "ttl_minutes": "1440"}
    response = op.post("/console/messages/templates/new", {**base, "placeholders": "title:text:标题:200", "sms_body": "通知：${title}" * 2})
    assert response.status_code == 422
    page = html(response)
    assert "超过上限 4 条；请精简正文或缩短占位符最大长度。" in page
    assert re.search(r"短信最长可达 <strong>\d+</strong> 字.*计 <strong>7</strong> 条计费短信", page)
    assert "通知：${title}通知：${title}" in page  # what was typed is kept

    response = op.post("/console/messages/templates/new", {**base, "sms_body": "您好${name}"})
    assert response.status_code == 422
    assert "“sms_body”用到了未声明的占位符：name。" in html(response)
    response = op.post("/console/messages/templates/new", {**base, "placeholders": "name:money", "sms_body": "x", "fallback": "sms>fax"})
    assert "第 1 行的类型“money”无效" in html(response)
    assert "没有“fax”这个通道" in html(response)
    assert not Template.objects.filter(code="long-one").exists()


def test_new_version_of_a_builtin_template_and_refusal_of_changed_placeholders(templates, op, operator):
    url = "/console/messages/templates/case-progress/edit"
    data = form_data(op.get(url), url)
    assert "category" not in data  # a built-in template's category is fixed
    assert data["placeholders"] == ["item:text:事项名称:30\ncase_code:code:办件编号:43\nstep:text:办理环节:12\nlink:url:办件链接:120"]
    assert data["fallback"] == ["sms>email"]

    response = op.post(url, {**data, "sms_body": ["您申请的${item}已到${step}环节，请登录通办查看。"], "note": [""]})
    assert response.status_code == 422
    assert Template.objects.get(code="case-progress").current_version == 1

    response = op.post(url, {**data, "sms_body": ["您申请的${item}已到${step}环节，请登录通办查看。"], "note": ["措辞更口语"]})
    assert response.status_code == 302
    template = Template.objects.get(code="case-progress")
    assert template.current_version == 2
    assert template.versions.get(version=2).sms_body == "您申请的${item}已到${step}环节，请登录通办查看。"
    detail = op.get(response.url)
    assert "已保存为第 2 版，此后发送的消息使用新版本。" in html(detail)
    assert table(detail, "version-table")[1:] == [
        ["第 2 版 当前", "运营甲", table(detail, "version-table")[1][2], "措辞更口语"],
        ["第 1 版", "系统", table(detail, "version-table")[2][2], "—"],
    ]

    data = form_data(op.get(url), url)
    changed = data["placeholders"][0].replace("\nlink:url:办件链接:120", "")
    response = op.post(url, {**data, "placeholders": [changed], "link": [""], "note": ["去掉链接"]})
    assert response.status_code == 422
    assert (
        "“case-progress”是平台内置模板，平台的业务代码按固定参数发送它，占位符必须保持为：item（文字）、case_code（编号）、step（文字）、link（链接）。"
        in html(response)
    )
    renamed = data["placeholders"][0].replace("step:text", "stage:text")
    response = op.post(url, {**data, "placeholders": [renamed], "note": ["改名"]})
    assert response.status_code == 422
    shorter = data["placeholders"][0].replace("事项名称:30", "事项名称:10")
    response = op.post(url, {**data, "placeholders": [shorter], "note": ["缩短"]})
    assert "内置模板的占位符“item”最大长度不能小于 30" in html(response)
    assert Template.objects.get(code="case-progress").current_version == 2

    # A browser sends CRLF from the text areas: the same text, not a new version.
    response = op.post(url, {**data, "email_body": [data["email_body"][0].replace("\n", "\r\n")], "note": ["没改什么"]})
    assert response.status_code == 302
    assert "内容与当前版本相同，没有保存新版本。" in html(op.get(response.url))
    assert Template.objects.get(code="case-progress").current_version == 2
    assert [e.after["version"] for e in audit_actions("message_template.update")] == [2]


# --- 6. department systems -----------------------------------------------------------------------


def test_operator_creates_an_api_client_and_sees_the_keys_once(mini, op, operator):
    data = {
        "name": "省人社业务系统",
        "department": mini.hrss_province.credit_code.lower(),
        "callback_url": "https://rst.example.cn/tongban/callback",
        "rate_limit": "600",
    }
    response = op.post("/console/messages/clients", data)
    assert response.status_code == 200
    page = html(response)
    assert "密钥只显示这一次。" in page
    live = re.search(r'id="created-live-key">(tb_live_[^<]+)<', page).group(1)
    test = re.search(r'id="created-test-key">(tb_test_[^<]+)<', page).group(1)
    key = identity.api_key_authenticate(live)
    assert key is not None and key.client.name == "省人社业务系统" and key.client.rate_limit_per_minute == 600
    assert identity.api_key_authenticate(test).kind == "test"
    assert key.client.department == mini.hrss_province
    assert [e.actor for e in audit_actions("api_client.create")] == [operator]

    listing = op.get("/console/messages/clients")
    rows = table(listing, "client-table")
    assert rows[1][:5] == [
        "省人社业务系统",
        f"{mini.hrss_province.name} {mini.hrss_province.credit_code}",
        "600",
        data["callback_url"],
        "启用",
    ]
    assert f"tb_live_{key.prefix}…" in rows[1][5]
    assert live not in html(listing) and test not in html(listing)

    again = op.post("/console/messages/clients", data)
    assert again.status_code == 422
    assert "已存在名为“省人社业务系统”的接入系统。" in html(again)
    bad = op.post("/console/messages/clients", {**data, "name": "另一个", "department": "91360000XXXXXXXXXX", "callback_url": "ftp:/x"})
    assert bad.status_code == 422
    assert "没有统一社会信用代码为“91360000XXXXXXXXXX”的部门。" in html(bad)
    assert "回调地址无效，请填写完整的 https:// 地址。" in html(bad)
    assert ApiClient.objects.count() == 1


def test_api_client_command_prints_json_whose_live_key_authenticates(mini):
    out = io.StringIO()
    call_command(
        "api_client",
        "create",
        "--name",
        "婺源县公安业务系统",
        "--department",
        mini.police_wuyuan.credit_code,
        "--callback-url",
        "https://wy.example.cn/cb",
        "--rate-limit",
        "120",
        stdout=out,
    )
    printed = json.loads(out.getvalue())
    assert set(printed) == {"client_id", "live_key", "test_key", "callback_secret"}
    key = identity.api_key_authenticate(printed["live_key"])
    assert key is not None and key.kind == "live"
    assert str(key.client.public_id) == printed["client_id"]
    assert (key.client.department, key.client.rate_limit_per_minute, key.client.callback_url) == (
        mini.police_wuyuan,
        120,
        "https://wy.example.cn/cb",
    )
    assert key.client.callback_secret == printed["callback_secret"]
    assert identity.api_key_authenticate(printed["test_key"]).kind == "test"

    with pytest.raises(CommandError, match="已存在名为“婺源县公安业务系统”的接入系统。"):
        call_command(
            "api_client", "create", "--name", "婺源县公安业务系统", "--department", mini.police_wuyuan.credit_code, stdout=io.StringIO()
        )
    with pytest.raises(CommandError, match="没有统一社会信用代码"):
        call_command("api_client", "create", "--name", "x", "--department", "000", stdout=io.StringIO())
