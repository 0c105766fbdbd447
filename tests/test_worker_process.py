"""At-least-once delivery with idempotent sending, proven with a real worker process killed with
SIGKILL after the SMS gateway took the message and before the worker recorded it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from tongban.messaging import services as messaging
from tongban.messaging.models import Delivery, SandboxSms

CASE = {"item": "居民身份证换领", "case_code": "360102-0001", "step": "受理", "link": "/my/cases/1"}


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _worker(live_server, **env: str) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DATA_DIR": str(settings.DATA_DIR),
        "SMS_SANDBOX_FAILURE_RATE": "0",
        "SMS_SANDBOX_RECEIPT_SECONDS": "0",
        "SMS_SANDBOX_CALLBACK_URL": f"{live_server.url}/api/v1/messages/receipts/sandbox-sms",
        "MESSAGING_LEASE_SECONDS": "2",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    command = [str(Path(sys.executable).with_name("tongban")), "worker", "--interval", "0.1", "--tick", "0.5"]
    return subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait(predicate, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_send_loses_nothing_and_sends_once(templates, citizen, live_server):
    with transaction.atomic():
        message = messaging.message_send(recipient=citizen, template="case-progress", data=CASE, reason="测试")
    sms = message.deliveries.get(channel="sms")

    # The gateway takes the message, then holds its answer for 5 s (half the latency): the worker dies waiting.
    first = _worker(live_server, SMS_SANDBOX_LATENCY_MS="10000")
    try:
        assert _wait(SandboxSms.objects.exists, 30), "the gateway never received the message"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    sms.refresh_from_db()
    assert sms.state == "sending" and sms.attempt_log.get().finished_at is None

    second = _worker(live_server, SMS_SANDBOX_LATENCY_MS="0")
    try:
        assert _wait(lambda: Delivery.objects.get(pk=sms.pk).state == "delivered", 90), second.stderr
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=30)
        except subprocess.TimeoutExpired:
            second.kill()
    sms.refresh_from_db()
    assert SandboxSms.objects.count() == 1  # one SMS on the phone
    assert sms.attempts == 1 and sms.attempt_log.get().outcome == "accepted"
    assert sms.provider_message_id == SandboxSms.objects.get().provider_message_id


@pytest.mark.django_db(transaction=True)
def test_a_slow_sms_gateway_does_not_hold_up_email(templates, citizen, live_server):
    messaging.template_save(
        actor=None,
        code="both-channels",
        name="短信和邮件",
        category="case_progress",
        placeholders=[],
        texts={"sms_body": "您有新的办件进度。", "email_subject": "办件进度", "email_body": "您有新的办件进度。"},
    )
    with transaction.atomic():
        for _ in range(5):
            messaging.message_send(recipient=citizen, template="both-channels", data={}, reason="测试")
    worker = _worker(
        live_server, SMS_SANDBOX_LATENCY_MS="4000", WORKER_SMS_THREADS="1", EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"
    )
    try:
        all_mail_sent = _wait(lambda: Delivery.objects.filter(channel="email", state="sent").count() == 5, 20)
        sms_done = Delivery.objects.filter(channel="sms").exclude(state__in=["created", "sending"]).count()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
    assert all_mail_sent
    assert sms_done <= 3  # five SMS at 4 s each take 20 s on their own queue; the e-mails did not wait for them
