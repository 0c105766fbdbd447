"""A sandbox SMS gateway that behaves like a real one, so the platform runs end to end without a vendor.

Like a vendor's gateway it
- accepts a message asynchronously and answers with its own message id; a repeated client key (our
  attempt key) returns the first answer instead of sending twice;
- is slow (SMS_SANDBOX_LATENCY_MS) and throttled (SMS_SANDBOX_MAX_PER_SECOND: beyond it, "busy");
- reports delivery later (SMS_SANDBOX_RECEIPT_SECONDS) by POSTing a signed receipt batch to the
  platform's receipt URL, retrying when that fails;
- fails a share of messages (SMS_SANDBOX_FAILURE_RATE) with an operator's reason.

Test numbers behave the same way every time (like GOV.UK Notify's):
  13900000001 the gateway times out        13900000002 the gateway answers garbage
  13900000003 delivery fails: 空号          13900000004 refused at once: 号码在黑名单
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from tongban.common.http import Transport, http_transport
from tongban.common.masking import mask_mobile
from tongban.messaging.models import SandboxSms
from tongban.messaging.providers import Accepted, BadReceipt, Outgoing, PermanentFailure, Receipt, TemporaryFailure
from tongban.messaging.rendering import sms_segments

TIMEOUT_NUMBER = "13900000001"
GARBAGE_NUMBER = "13900000002"
UNDELIVERABLE_NUMBER = "13900000003"
BLOCKED_NUMBER = "13900000004"
FAILURE_REASONS = [("MK:0001", "用户停机"), ("MK:0005", "用户关机超时"), ("MK:0012", "运营商拦截")]
MAX_SKEW_SECONDS = 300


def sign(body: bytes, timestamp: str) -> str:
    return hmac.new(settings.SMS_SANDBOX_SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class SandboxSmsProvider:
    name = "sandbox-sms"
    reports_receipts = True

    def send(self, outgoing: Outgoing) -> Accepted:
        # Half the round trip on the way there, half on the way back: a sender that dies while
        # waiting for the answer leaves a message the gateway has already taken.
        half = settings.SMS_SANDBOX_LATENCY_MS / 2000
        if half:
            time.sleep(half)
        if outgoing.address == TIMEOUT_NUMBER:
            raise TemporaryFailure("timeout", "短信网关响应超时")
        if outgoing.address == GARBAGE_NUMBER:
            raise TemporaryFailure("bad_response", "短信网关返回了无法识别的应答")
        if outgoing.address == BLOCKED_NUMBER:
            raise PermanentFailure("isv.BLACK_KEY_CONTROL_LIMIT", "号码在黑名单中")
        existing = SandboxSms.objects.filter(client_key=outgoing.key).first()
        if existing is not None:  # the same attempt again (a retry after a crash): no second SMS
            return Accepted(provider_message_id=existing.provider_message_id)
        second = int(time.time())
        bucket = f"sandbox-sms:{second}"
        cache.add(bucket, 0, timeout=5)
        if cache.incr(bucket) > settings.SMS_SANDBOX_MAX_PER_SECOND:
            raise TemporaryFailure("throttled", "短信网关繁忙（超过每秒发送上限）")
        if outgoing.address == UNDELIVERABLE_NUMBER:
            outcome, code = SandboxSms.Outcome.FAILED, "MK:0004 空号"
        elif random.random() < settings.SMS_SANDBOX_FAILURE_RATE:  # noqa: S311 - a simulation, not a secret
            failure = random.choice(FAILURE_REASONS)  # noqa: S311
            outcome, code = SandboxSms.Outcome.FAILED, f"{failure[0]} {failure[1]}"
        else:
            outcome, code = SandboxSms.Outcome.DELIVERED, "DELIVRD"
        record = SandboxSms(
            provider_message_id=f"SBX{uuid.uuid4().hex[:20].upper()}",
            client_key=outgoing.key,
            mobile_masked=mask_mobile(outgoing.address),
            text=outgoing.body,
            segments=sms_segments(outgoing.body),
            report_after=timezone.now() + timedelta(seconds=settings.SMS_SANDBOX_RECEIPT_SECONDS),
            outcome=outcome,
            outcome_code=code,
        )
        try:
            with transaction.atomic():
                record.save()
        except IntegrityError:  # two senders with one key at once: the first one's id stands
            record = SandboxSms.objects.get(client_key=outgoing.key)
        if half:
            time.sleep(half)
        return Accepted(provider_message_id=record.provider_message_id)

    def parse_receipts(self, body: bytes, headers: Mapping[str, str]) -> list[Receipt]:
        timestamp = headers.get("X-Sandbox-Timestamp", "")
        signature = headers.get("X-Sandbox-Signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_SKEW_SECONDS:
            raise BadReceipt("stale_receipt", "回执时间戳缺失或超出允许范围")
        if not hmac.compare_digest(sign(body, timestamp), signature):
            raise BadReceipt("bad_signature", "回执签名校验失败")
        try:
            items = json.loads(body)
            return [
                Receipt(
                    client_key=str(item["out_id"]),
                    provider_message_id=str(item["biz_id"]),
                    delivered=item["status"] == "DELIVRD",
                    code=str(item.get("err_code", "")),
                    reason=str(item.get("err_msg", "")),
                )
                for item in items
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise BadReceipt("unreadable_receipt", "回执内容无法解析") from exc


def sandbox_report_due(*, transport: Transport = http_transport, limit: int = 200) -> int:
    """The gateway's side: post the receipts that are due, in one signed batch. Returns how many
    the platform took; on any other answer the batch is tried again on the next round."""
    now = timezone.now()
    due = list(SandboxSms.objects.filter(reported_at=None, report_after__lte=now, report_attempts__lt=20).order_by("id")[:limit])
    if not due:
        return 0
    items = []
    for sms in due:
        delivered = sms.outcome == SandboxSms.Outcome.DELIVERED
        code, _, message = sms.outcome_code.partition(" ")
        items.append(
            {
                "out_id": sms.client_key,
                "biz_id": sms.provider_message_id,
                "status": "DELIVRD" if delivered else "UNDELIV",
                "err_code": "" if delivered else code,
                "err_msg": "" if delivered else message,
            }
        )
    body = json.dumps(items, ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    status = transport(
        settings.SMS_SANDBOX_CALLBACK_URL, body, {"X-Sandbox-Timestamp": timestamp, "X-Sandbox-Signature": sign(body, timestamp)}
    )
    ids = [sms.pk for sms in due]
    if 200 <= status < 300:
        SandboxSms.objects.filter(pk__in=ids).update(reported_at=now)
        return len(ids)
    for sms in due:
        SandboxSms.objects.filter(pk=sms.pk).update(report_attempts=sms.report_attempts + 1)
    return 0
