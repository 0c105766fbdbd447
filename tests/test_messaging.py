"""The message centre through its services: templates, sending, every delivery state, fallback,
quiet hours, preferences, receipts and their signatures, re-drive, crashes between send and record."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tests.messaging_support import drain, test_client_transport
from tongban.common.errors import Conflict, NotFound, ValidationFailed
from tongban.common.models import AuditEvent
from tongban.messaging import providers
from tongban.messaging import services as messaging
from tongban.messaging.models import Delivery, DeliveryAttempt, InboxItem, Message, SandboxSms, Template
from tongban.messaging.sandbox import BLOCKED_NUMBER, GARBAGE_NUMBER, TIMEOUT_NUMBER, UNDELIVERABLE_NUMBER, sandbox_report_due, sign

LOCAL = ZoneInfo("Asia/Shanghai")
CASE = {"item": "居民身份证换领", "case_code": "360102-0001", "step": "受理", "link": "/my/cases/1"}


@pytest.fixture(autouse=True)
def _mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.MESSAGING_RETRY_SECONDS = 0


def send(recipient, template="case-progress", data=None, **extra):
    with transaction.atomic():
        return messaging.message_send(
            recipient=recipient, template=template, data=dict(CASE) if data is None else data, reason="测试", **extra
        )


def states(message):
    return {d.channel: d.state for d in Delivery.objects.filter(message=message, fallback_of=None)}


def receipts(client):
    return sandbox_report_due(transport=test_client_transport(client))


# --- templates ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_template_versions_are_kept_and_an_unchanged_save_writes_nothing(templates):
    spec = {
        "code": "demo-notice",
        "name": "演示通知",
        "category": "policy",
        "placeholders": [{"name": "title", "type": "text"}],
        "texts": {"inbox_title": "${title}", "inbox_body": "内容：${title}"},
    }
    first = messaging.template_save(actor=None, **spec)
    again = messaging.template_save(actor=None, **spec)
    assert first.pk == again.pk and first.version == 1
    second = messaging.template_save(
        actor=None, **{**spec, "texts": {"inbox_title": "${title}", "inbox_body": "新内容：${title}"}, "note": "改正文"}
    )
    assert second.version == 2
    assert Template.objects.get(code="demo-notice").current_version == 2
    assert AuditEvent.objects.filter(action__startswith="message_template.", object_id="demo-notice").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("placeholders", "texts", "code"),
    [
        ([], {"inbox_title": "t", "inbox_body": "你好${name}"}, "placeholder_undeclared"),
        ([{"name": "name", "type": "text"}], {"inbox_title": "t", "inbox_body": "你好"}, "placeholder_unused"),
        ([{"name": "Name", "type": "text"}], {"inbox_title": "t", "inbox_body": "${Name}"}, "placeholder_name"),
        ([{"name": "n", "type": "money"}], {"inbox_title": "t", "inbox_body": "${n}"}, "placeholder_type"),
        ([], {"inbox_body": "没有标题"}, "template_title_missing"),
        ([], {"inbox_title": "t", "inbox_body": "坏的 ${ 占位符"}, "template_syntax"),
        ([{"name": "t", "type": "text", "max_length": 200}], {"sms_body": "${t}" * 2}, "sms_too_long"),
    ],
)
def test_bad_templates_are_refused_with_a_code(placeholders, texts, code):
    with pytest.raises(ValidationFailed) as caught:
        messaging.template_save(actor=None, code="bad", name="坏模板", category="policy", placeholders=placeholders, texts=texts)
    assert caught.value.code == code
    assert not Template.objects.filter(code="bad").exists()


def test_sms_segments_follow_the_70_and_67_rule():
    from tongban.messaging.rendering import sms_segments

    assert sms_segments("字" * 70) == 1
    assert sms_segments("字" * 71) == 2
    assert sms_segments("字" * 134) == 2
    assert sms_segments("字" * 135) == 3
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2


# --- sending -------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("template", "data", "code"),
    [
        ("no-such-template", CASE, "template_unknown"),
        ("case-progress", {k: v for k, v in CASE.items() if k != "step"}, "template_data_missing"),
        ("case-progress", {**CASE, "extra": "x"}, "template_data_unexpected"),
        ("case-progress", {**CASE, "case_code": "含中文的编号"}, "template_data_invalid"),
        ("case-progress", {**CASE, "link": "javascript:alert(1)"}, "template_data_invalid"),
        ("licence-expiry", {"licence": "驾驶证", "expires_on": "2026-13-01", "link": "/"}, "template_data_invalid"),
        ("case-progress", {**CASE, "item": "长" * 31}, "template_data_too_long"),
    ],
)
def test_bad_sends_are_refused_and_leave_nothing(templates, citizen, template, data, code):
    with pytest.raises((ValidationFailed, NotFound)) as caught:
        send(citizen, template=template, data=data)
    assert caught.value.code == code
    assert not Message.objects.exists() and not DBTaskResult.objects.exists()


@pytest.mark.django_db
def test_a_send_writes_the_inbox_at_once_and_queues_sms_on_its_own_queue(templates, citizen):
    message = send(citizen)
    item = InboxItem.objects.get(message=message)
    assert item.account == citizen and item.title == "居民身份证换领：受理" and item.link == "/my/cases/1"
    assert states(message) == {"inbox": "delivered", "sms": "created"}
    sms = message.deliveries.get(channel="sms")
    assert sms.body == "【通办】您申请的居民身份证换领已进入受理环节，可登录通办查看。" and sms.segments == 1
    assert sms.address_masked == "138****5678" and "13812345678" not in sms.address_sealed
    task = DBTaskResult.objects.get()
    assert task.queue_name == "messages-sms" and task.args_kwargs["args"] == [[str(sms.key)]] and sms.task_id == str(task.id)


@pytest.mark.django_db
def test_nothing_is_sent_for_work_that_rolled_back(templates, citizen):
    with pytest.raises(RuntimeError), transaction.atomic():
        messaging.message_send(recipient=citizen, template="case-progress", data=dict(CASE), reason="测试")
        raise RuntimeError("the caller's work failed")
    assert not Message.objects.exists() and not InboxItem.objects.exists() and not DBTaskResult.objects.exists()


@pytest.mark.django_db
def test_sms_goes_created_sending_sent_delivered(templates, citizen, client):
    seen = []

    class Watching:
        name, reports_receipts = "watching", True

        def send(self, outgoing):
            seen.append(Delivery.objects.get(channel="sms").state)
            return providers.provider_for("sms").send(outgoing) if False else real.send(outgoing)

        def parse_receipts(self, body, headers):
            return real.parse_receipts(body, headers)

    real = providers.provider_for("sms")
    message = send(citizen)
    providers.provider_override("sms", Watching())
    try:
        drain()
    finally:
        providers.provider_override("sms", None)
    sms = message.deliveries.get(channel="sms")
    assert seen == ["sending"]
    assert sms.state == "sent" and sms.provider_message_id.startswith("SBX") and sms.sent_at
    assert receipts(client) == 1
    sms.refresh_from_db()
    assert sms.state == "delivered" and sms.finished_at
    assert SandboxSms.objects.get().text == sms.body


@pytest.mark.django_db
def test_an_undeliverable_number_fails_on_receipt_and_falls_back_to_email(templates, citizen, client):
    citizen.mobile = UNDELIVERABLE_NUMBER
    citizen.save()
    message = send(citizen)
    drain()
    assert receipts(client) == 1
    drain()
    sms = message.deliveries.get(channel="sms")
    assert sms.state == "failed" and sms.failure_code == "MK:0004" and sms.failure_reason == "空号"
    email = message.deliveries.get(channel="email")
    assert email.fallback_of == sms and email.state == "sent"
    assert mail.outbox[0].to == ["zhangxm@example.cn"] and "居民身份证换领" in mail.outbox[0].subject
    assert "List-Unsubscribe" in mail.outbox[0].extra_headers
    assert AuditEvent.objects.filter(action="message_delivery.failed", object_id=str(message.public_id)).exists()


@pytest.mark.django_db
def test_a_refused_number_fails_at_once_without_retrying(templates, citizen):
    citizen.mobile = BLOCKED_NUMBER
    citizen.save()
    message = send(citizen)
    drain()
    sms = message.deliveries.get(channel="sms")
    assert sms.state == "failed" and sms.attempts == 1 and sms.failure_reason == "号码在黑名单中"


@pytest.mark.django_db
@pytest.mark.parametrize("number", [TIMEOUT_NUMBER, GARBAGE_NUMBER])
def test_timeouts_and_garbage_are_retried_a_bounded_number_of_times_then_fall_back(templates, citizen, settings, number):
    settings.MESSAGING_MAX_ATTEMPTS = 3
    citizen.mobile = number
    citizen.save()
    message = send(citizen)
    drain(rounds=10)
    sms = message.deliveries.get(channel="sms")
    assert sms.state == "failed" and sms.attempts == 3
    assert list(sms.attempt_log.values_list("outcome", flat=True).order_by("number")) == ["retry", "retry", "failed"]
    assert len({a.key for a in sms.attempt_log.all()}) == 3  # each try is a new message to the gateway
    assert message.deliveries.get(channel="email").state == "sent"
    assert SandboxSms.objects.count() == 0


@pytest.mark.django_db
def test_retries_back_off(templates, citizen, settings):
    settings.MESSAGING_RETRY_SECONDS = 15
    citizen.mobile = TIMEOUT_NUMBER
    citizen.save()
    message = send(citizen)
    drain()
    sms = message.deliveries.get(channel="sms")
    assert sms.state == "created" and sms.attempts == 1 and sms.failure_code == "timeout"
    assert 14 <= (sms.not_before - timezone.now()).total_seconds() <= 15
    pending = DBTaskResult.objects.filter(status="READY").get()
    assert pending.run_after == sms.not_before


@pytest.mark.django_db
def test_an_unexpected_provider_error_is_a_temporary_failure(templates, citizen, settings):
    settings.MESSAGING_MAX_ATTEMPTS = 2

    class Broken:
        name, reports_receipts = "broken", False

        def send(self, outgoing):
            raise ValueError("garbage from an SDK")

        def parse_receipts(self, body, headers):
            return []

    message = send(citizen)
    providers.provider_override("sms", Broken())
    try:
        drain()
    finally:
        providers.provider_override("sms", None)
    sms = message.deliveries.get(channel="sms")
    assert sms.state == "failed" and sms.failure_code == "provider_error" and sms.attempts == 2


@pytest.mark.django_db
def test_a_recipient_without_a_mobile_number_fails_clearly_and_gets_email(templates, citizen):
    citizen.mobile = ""
    citizen.save()
    message = send(citizen)
    sms = message.deliveries.get(channel="sms")
    assert sms.state == "failed" and sms.failure_code == "no_address" and sms.failure_reason == "收件人未登记手机号码"
    assert message.deliveries.get(channel="email").state == "created"
    assert AuditEvent.objects.filter(action="message_delivery.failed", reason="收件人未登记手机号码").exists()


@pytest.mark.django_db
def test_push_placeholder_fails_permanently_and_its_fallback_takes_over(templates, citizen):
    messaging.template_save(
        actor=None,
        code="push-first",
        name="先推送",
        category="case_progress",
        placeholders=[],
        texts={"push_title": "提醒", "push_body": "您有新进度", "sms_body": "您有新进度"},
        fallback={"push": ["sms"]},
    )
    message = send(citizen, template="push-first", data={})
    assert states(message) == {"push": "created"}
    drain()
    push = message.deliveries.get(channel="push")
    assert push.state == "failed" and push.failure_code == "push_unavailable"
    assert message.deliveries.get(channel="sms").state == "sent"


@pytest.mark.django_db
def test_a_delivery_not_sent_before_it_expires_ends_expired(templates, citizen):
    message = send(citizen)
    Delivery.objects.filter(message=message, channel="sms").update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    drain()
    sms = message.deliveries.get(channel="sms")
    assert sms.state == "expired" and sms.failure_code == "expired"
    assert message.deliveries.get(channel="email").fallback_of == sms


@pytest.mark.django_db
def test_an_sms_without_a_receipt_expires_after_the_receipt_window(templates, citizen, settings):
    message = send(citizen)
    drain()
    Delivery.objects.filter(message=message, channel="sms").update(sent_at=timezone.now() - dt.timedelta(hours=73))
    assert messaging.messaging_sweep()["expired"] == 1
    sms = message.deliveries.get(channel="sms")
    assert sms.state == "expired" and sms.failure_code == "no_receipt"


@pytest.mark.django_db
def test_expired_work_waiting_in_the_queue_is_expired_by_the_sweep(templates, citizen):
    message = send(citizen)
    Delivery.objects.filter(message=message, channel="sms").update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert messaging.messaging_sweep()["expired"] == 1
    assert message.deliveries.get(channel="sms").state == "expired"


# --- quiet hours and preferences -----------------------------------------------------------------


def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=LOCAL)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (_at(22, 21, 59), None),
        (_at(22, 22, 0), _at(23, 7, 0)),
        (_at(22, 23, 30), _at(23, 7, 0)),
        (_at(23, 0, 0), _at(23, 7, 0)),
        (_at(23, 6, 59), _at(23, 7, 0)),
        (_at(23, 7, 0), None),
        (_at(23, 12, 0), None),
    ],
)
def test_quiet_hours_across_midnight(now, expected):
    assert messaging.quiet_until(now, dt.time(22, 0), dt.time(7, 0)) == (expected.astimezone(dt.UTC) if expected else None)


def test_quiet_hours_within_one_day():
    assert messaging.quiet_until(_at(22, 12, 30), dt.time(12, 0), dt.time(14, 0)) == _at(22, 14, 0).astimezone(dt.UTC)
    assert messaging.quiet_until(_at(22, 14, 0), dt.time(12, 0), dt.time(14, 0)) is None
    assert messaging.quiet_until(_at(22, 3, 0), None, None) is None


@pytest.mark.django_db
def test_sms_waits_out_quiet_hours_but_security_messages_do_not(templates, citizen):
    local_now = timezone.now().astimezone(LOCAL)
    start = (local_now - dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (local_now + dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    messaging.preference_set(actor=citizen, account=citizen, channels={}, quiet_start=start, quiet_end=end)
    quiet = send(citizen)
    sms = quiet.deliveries.get(channel="sms")
    assert sms.not_before is not None and 3500 <= (sms.not_before - timezone.now()).total_seconds() <= 3601
    assert DBTaskResult.objects.get(id=sms.task_id).run_after == sms.not_before
    assert quiet.deliveries.get(channel="inbox").state == "delivered"  # the inbox never rings
    urgent = send(citizen, template="account-changed", data={"change": "修改了登录密码", "when": "11月22日 23:10"})
    assert urgent.deliveries.get(channel="sms").not_before is None


@pytest.mark.django_db
def test_preferences_choose_channels_but_security_cannot_be_switched_off(templates, citizen):
    messaging.preference_set(
        actor=citizen, account=citizen, channels={"case_progress": [], "account_security": []}, quiet_start=None, quiet_end=None
    )
    assert states(send(citizen)) == {"inbox": "delivered"}
    assert set(states(send(citizen, template="account-changed", data={"change": "绑定新手机", "when": "今天"}))) == {"inbox", "sms"}
    with pytest.raises(ValidationFailed):
        messaging.preference_set(actor=citizen, account=citizen, channels={"policy": ["fax"]}, quiet_start=None, quiet_end=None)
    with pytest.raises(ValidationFailed):
        messaging.preference_set(actor=citizen, account=citizen, channels={}, quiet_start=dt.time(22), quiet_end=None)


@pytest.mark.django_db
def test_one_click_unsubscribe_turns_a_category_off_but_not_security(templates, citizen):
    account, category = messaging.unsubscribe(token=messaging.unsubscribe_token(citizen, "case_progress"))
    assert (account, category) == (citizen, "case_progress")
    assert states(send(citizen)) == {"inbox": "delivered"}
    with pytest.raises(ValidationFailed):
        messaging.unsubscribe(token=messaging.unsubscribe_token(citizen, "account_security"))
    with pytest.raises(NotFound):
        messaging.unsubscribe(token="forged:token")


# --- receipts ----------------------------------------------------------------------------------


def _post_receipt(client, items, *, secret_ok=True, timestamp=None):
    body = json.dumps(items).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = sign(body, ts) if secret_ok else "0" * 64
    return client.post(
        "/api/v1/messages/receipts/sandbox-sms",
        data=body,
        content_type="application/json",
        HTTP_X_SANDBOX_TIMESTAMP=ts,
        HTTP_X_SANDBOX_SIGNATURE=signature,
    )


@pytest.mark.django_db
def test_receipts_with_a_bad_signature_or_an_old_timestamp_are_refused_and_audited(templates, citizen, client):
    message = send(citizen)
    drain()
    attempt = DeliveryAttempt.objects.get()
    item = {"out_id": str(attempt.key), "biz_id": attempt.provider_message_id, "status": "DELIVRD"}
    response = _post_receipt(client, [item], secret_ok=False)
    assert response.status_code == 403 and response.json()["code"] == "bad_signature"
    response = _post_receipt(client, [item], timestamp=int(time.time()) - 3600)
    assert response.status_code == 403 and response.json()["code"] == "stale_receipt"
    assert AuditEvent.objects.filter(action="message_receipt.refused").count() == 2
    assert message.deliveries.get(channel="sms").state == "sent"


@pytest.mark.django_db
def test_duplicate_unknown_and_unreadable_receipts(templates, citizen, client):
    message = send(citizen)
    drain()
    attempt = DeliveryAttempt.objects.get()
    item = {"out_id": str(attempt.key), "biz_id": attempt.provider_message_id, "status": "DELIVRD"}
    assert _post_receipt(client, [item]).json() == {"accepted": 1, "duplicate": 0, "unknown": 0}
    failed_again = {**item, "status": "UNDELIV", "err_code": "MK:0001", "err_msg": "用户停机"}
    assert _post_receipt(client, [item, failed_again]).json() == {"accepted": 0, "duplicate": 2, "unknown": 0}
    assert message.deliveries.get(channel="sms").state == "delivered"
    unknown = {"out_id": "00000000-0000-0000-0000-000000000000", "biz_id": "SBXNOPE", "status": "DELIVRD"}
    assert _post_receipt(client, [unknown]).json() == {"accepted": 0, "duplicate": 0, "unknown": 1}
    assert AuditEvent.objects.filter(action="message_receipt.unknown").exists()
    body = b"this is not json"
    ts = str(int(time.time()))
    response = client.post(
        "/api/v1/messages/receipts/sandbox-sms",
        data=body,
        content_type="application/json",
        HTTP_X_SANDBOX_TIMESTAMP=ts,
        HTTP_X_SANDBOX_SIGNATURE=sign(body, ts),
    )
    assert response.status_code == 403 and response.json()["code"] == "unreadable_receipt"
    assert client.post("/api/v1/messages/receipts/nope", data=b"[]", content_type="application/json").status_code == 404


@pytest.mark.django_db
def test_the_gateway_keeps_its_receipts_until_the_platform_takes_them(templates, citizen):
    send(citizen)
    drain()
    assert sandbox_report_due(transport=lambda url, body, headers: 503) == 0
    sms = SandboxSms.objects.get()
    assert sms.reported_at is None and sms.report_attempts == 1


# --- crashes, concurrency, re-drive ----------------------------------------------------------------


class WorkerDies(BaseException):
    """Stands for kill -9 of the worker: raised after the gateway took the message."""


@pytest.mark.django_db
def test_a_worker_killed_between_send_and_record_is_recovered_without_a_second_sms(templates, citizen, client, settings):
    real = providers.provider_for("sms")

    class DiesAfterSending:
        name, reports_receipts = real.name, True

        def send(self, outgoing):
            real.send(outgoing)
            raise WorkerDies

        def parse_receipts(self, body, headers):
            return real.parse_receipts(body, headers)

    message = send(citizen)
    sms = message.deliveries.get(channel="sms")
    providers.provider_override("sms", DiesAfterSending())
    try:
        drain()  # the worker's task "dies" with the process
    finally:
        providers.provider_override("sms", None)
    sms.refresh_from_db()
    assert sms.state == "sending" and SandboxSms.objects.count() == 1
    assert messaging.messaging_sweep()["requeued"] == 0  # its lease still holds
    Delivery.objects.filter(pk=sms.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    assert messaging.messaging_sweep()["requeued"] == 1
    drain()
    sms.refresh_from_db()
    assert sms.state == "sent" and sms.attempts == 1
    assert SandboxSms.objects.count() == 1  # the retry presented the same key: no second SMS
    assert SandboxSms.objects.get().provider_message_id == sms.provider_message_id
    assert receipts(client) == 1
    sms.refresh_from_db()
    assert sms.state == "delivered"


@pytest.mark.django_db
def test_a_receipt_for_a_send_the_dead_worker_never_recorded_completes_it(templates, citizen, client):
    real = providers.provider_for("sms")

    class DiesAfterSending:
        name, reports_receipts = real.name, True

        def send(self, outgoing):
            real.send(outgoing)
            raise WorkerDies

        def parse_receipts(self, body, headers):
            return real.parse_receipts(body, headers)

    message = send(citizen)
    providers.provider_override("sms", DiesAfterSending())
    try:
        with pytest.raises(WorkerDies):
            messaging.delivery_attempt(message.deliveries.get(channel="sms").pk)
    finally:
        providers.provider_override("sms", None)
    assert receipts(client) == 1
    sms = message.deliveries.get(channel="sms")
    assert sms.state == "delivered" and sms.attempt_log.get().outcome == "accepted"
    assert messaging.delivery_attempt(sms.pk) == "done"


@pytest.mark.django_db
def test_running_one_delivery_twice_sends_once(templates, citizen):
    message = send(citizen)
    sms = message.deliveries.get(channel="sms")
    assert messaging.delivery_attempt(sms.pk) == "sent"
    assert messaging.delivery_attempt(sms.pk) == "done"
    assert SandboxSms.objects.count() == 1 and sms.attempt_log.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_delivery_at_once_send_it_once(templates, citizen, settings):
    settings.SMS_SANDBOX_LATENCY_MS = 300
    message = send(citizen)
    sms = message.deliveries.get(channel="sms")
    results: list[str] = []
    barrier = threading.Barrier(2)

    def work() -> None:
        barrier.wait()
        try:
            results.append(messaging.delivery_attempt(sms.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["busy", "sent"]
    assert SandboxSms.objects.count() == 1


@pytest.mark.django_db
def test_an_operator_can_re_drive_a_terminal_failure(templates, citizen, operator):
    citizen.mobile = BLOCKED_NUMBER
    citizen.save()
    message = send(citizen)
    drain()
    sms = message.deliveries.get(channel="sms")
    with pytest.raises(ValidationFailed):
        messaging.delivery_redrive(actor=operator, delivery_id=sms.pk, reason=" ")
    citizen.mobile = "13812345678"  # the address on the delivery is what was sent to; re-drive reuses it
    messaging.delivery_redrive(actor=operator, delivery_id=sms.pk, reason="网关恢复后重发")
    assert AuditEvent.objects.filter(action="message_delivery.redrive", reason="网关恢复后重发").exists()
    drain()
    sms.refresh_from_db()
    assert sms.state == "failed" and sms.attempt_log.count() == 2  # the blocked number is still blocked
    with pytest.raises(Conflict):
        messaging.delivery_redrive(actor=operator, delivery_id=message.deliveries.get(channel="inbox").pk, reason="x")


# --- sends to a bare address -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_send_to_a_bare_number_uses_no_inbox(templates):
    message = send(
        messaging.Address(mobile="13700001111"), template="account-otp", data={"code": "123456", "purpose": "登录", "minutes": 5}
    )
    assert states(message) == {"sms": "created"}
    assert message.recipient is None and "13700001111" not in message.direct_address_sealed


@pytest.mark.django_db
def test_the_sweep_leaves_deliveries_waiting_in_a_long_queue_alone(templates, citizen):
    message = send(citizen)
    sms = message.deliveries.get(channel="sms")
    old = timezone.now() - dt.timedelta(minutes=10)
    Delivery.objects.filter(pk=sms.pk).update(updated_at=old)
    assert messaging.messaging_sweep()["requeued"] == 0  # its task is still waiting in the queue
    assert DBTaskResult.objects.count() == 1
    DBTaskResult.objects.all().delete()  # the task is lost (a wiped queue, say)
    Delivery.objects.filter(pk=sms.pk).update(updated_at=old)
    assert messaging.messaging_sweep()["requeued"] == 1
    assert messaging.messaging_sweep()["requeued"] == 0  # once, not once per round
    drain()
    assert message.deliveries.get(channel="sms").state == "sent"


# --- batches -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_batch_is_saved_in_bulk_with_one_task_per_channel(templates, citizen, other_citizen, django_assert_max_num_queries):
    requests = [
        messaging.SendRequest(recipient=person, template="case-progress", data=dict(CASE), reason="批量测试")
        for person in [citizen, other_citizen] * 50
    ]
    messaging._current_version("case-progress")  # a warm template cache, as on a busy sender
    # A handful of bulk statements, not a few per message (SQLite splits big inserts by its limit
    # on bound variables, hence the margin).
    with django_assert_max_num_queries(16), transaction.atomic():
        messages = messaging.message_send_many(requests=requests)
    assert len(messages) == 100 and Message.objects.count() == 100
    assert InboxItem.objects.count() == 100
    task = DBTaskResult.objects.get()
    assert task.queue_name == "messages-sms" and len(task.args_kwargs["args"][0]) == 100
    drain()
    assert Delivery.objects.filter(channel="sms", state="sent").count() == 100
    assert SandboxSms.objects.count() == 100


@pytest.mark.django_db
def test_one_bad_request_refuses_the_whole_batch_with_a_report(templates, citizen):
    requests = [
        messaging.SendRequest(recipient=citizen, template="case-progress", data=dict(CASE), reason="批量"),
        messaging.SendRequest(recipient=citizen, template="case-progress", data={"item": "缺参数"}, reason="批量"),
        messaging.SendRequest(recipient=citizen, template="no-such", data={}, reason="批量"),
    ]
    with pytest.raises(ValidationFailed) as caught, transaction.atomic():
        messaging.message_send_many(requests=requests)
    assert caught.value.code == "batch_refused"
    assert [(e["index"], e["code"]) for e in caught.value.details] == [(1, "template_data_missing"), (2, "template_unknown")]
    assert not Message.objects.exists() and not DBTaskResult.objects.exists()


@pytest.mark.django_db
def test_a_batch_honours_each_persons_preferences_and_quiet_hours(templates, citizen, other_citizen):
    messaging.preference_set(actor=citizen, account=citizen, channels={"case_progress": []}, quiet_start=None, quiet_end=None)
    local_now = timezone.now().astimezone(LOCAL)
    start = (local_now - dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (local_now + dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    messaging.preference_set(actor=other_citizen, account=other_citizen, channels={}, quiet_start=start, quiet_end=end)
    with transaction.atomic():
        quiet_one, muted_one = messaging.message_send_many(
            requests=[
                messaging.SendRequest(recipient=other_citizen, template="case-progress", data=dict(CASE), reason="批量"),
                messaging.SendRequest(recipient=citizen, template="case-progress", data=dict(CASE), reason="批量"),
            ]
        )
    assert states(muted_one) == {"inbox": "delivered"}
    assert quiet_one.deliveries.get(channel="sms").not_before is not None
    assert DBTaskResult.objects.get().run_after == quiet_one.deliveries.get(channel="sms").not_before
