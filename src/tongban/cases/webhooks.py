"""Case events posted to department systems (webhooks): a new case (``case.created``, on
submission) and every later step (``case.changed``), for each active system of the case's
department that registered a callback URL.

- Written in the transaction of the step itself (``case_changed`` is called by services._apply
  right after the timeline event): a step that rolls back owes nobody anything, and a committed
  step always has its webhooks, queued with it (the task backend is the database).
- Signed like the message centre's callbacks: ``X-Tongban-Signature`` = hex HMAC-SHA256 of
  ``<X-Tongban-Timestamp>.<body>`` with the system's callback secret.
- Idempotent: ``X-Tongban-Event`` (and ``event_id`` in the body) is the same on every retry so a
  receiver drops repeats; a webhook once delivered (done) is never posted again.
- Retried with exponential backoff (``MESSAGING_RETRY_SECONDS`` × 2^n) up to
  ``CASE_WEBHOOK_MAX_ATTEMPTS``, then failed: operators see it and re-drive it. The worker's sweep
  queues again a pending webhook whose task was lost (a worker killed, a queue flushed).
- Order is not guaranteed across retries: the body carries the case's ``version``; a receiver keeps
  the highest it has seen, or pulls the case.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tongban.cases.models import Case, CaseEvent, CaseWebhook
from tongban.common.audit import audit_record
from tongban.common.errors import Conflict, NotFound, ValidationFailed
from tongban.identity.models import ApiClient
from tongban.messaging.services import callback_signature

CREATED = "case.created"
CHANGED = "case.changed"
# A pending webhook whose next attempt is this far past due, with no live task, is queued again.
LOST_AFTER = timedelta(minutes=5)


def payload_of(case: Case, event: CaseEvent, kind: str) -> dict[str, Any]:
    """What a department system is told: enough to decide whether to pull the case."""
    return {
        "type": kind,
        "case": {"code": case.code, "state": case.state, "version": case.version},
        "action": event.action,
        "step_result": event.step_result,
        "conclusion": event.conclusion,
        "special_step": event.special_step,
        "at": event.at.isoformat(),
    }


def case_changed(case: Case, event: CaseEvent) -> list[CaseWebhook]:
    """Owe one webhook per active system of the case's department with a callback URL, in the
    caller's transaction, and queue each. A case without a code (a bundle's part still waiting)
    has nothing to report yet."""
    if not case.code or case.department_id is None:
        return []
    clients = list(ApiClient.objects.filter(department_id=case.department_id, is_active=True).exclude(callback_url="").order_by("id"))
    if not clients:
        return []
    kind = CREATED if event.action == "submit" else CHANGED
    payload = payload_of(case, event, kind)
    made = [CaseWebhook(client=c, case=case, event=kind, payload=payload) for c in clients]
    CaseWebhook.objects.bulk_create(made)
    for webhook in made:
        if webhook.pk is None:  # a backend that does not return keys from bulk_create
            webhook = CaseWebhook.objects.get(event_id=webhook.event_id)
        _enqueue(webhook)
    return made


def _enqueue(webhook: CaseWebhook, run_after: dt.datetime | None = None) -> None:
    from tongban.cases import tasks

    task = tasks.case_webhook_post.using(run_after=run_after) if run_after else tasks.case_webhook_post
    webhook.task_id = str(task.enqueue(webhook.pk).id)
    webhook.next_attempt_at = run_after or timezone.now()
    CaseWebhook.objects.filter(pk=webhook.pk).update(task_id=webhook.task_id, next_attempt_at=webhook.next_attempt_at)


def body_of(webhook: CaseWebhook) -> bytes:
    return json.dumps({"event_id": str(webhook.event_id), **webhook.payload}, ensure_ascii=False).encode()


def webhook_deliver(webhook_id: int, *, transport: Any = None) -> str:
    """POST one webhook to its system's URL, signed. Returns done, retry, failed (or done when
    there is nothing left to do: delivered already, failed, or gone)."""
    from tongban.common.http import http_transport

    send = transport or http_transport
    with transaction.atomic():
        webhook = CaseWebhook.objects.select_for_update().select_related("client").filter(pk=webhook_id).first()
        if webhook is None or webhook.state != CaseWebhook.State.PENDING:
            return "done"
        webhook.attempts += 1
        webhook.save(update_fields=["attempts"])
    body = body_of(webhook)
    timestamp = str(int(time.time()))
    status = send(
        webhook.client.callback_url,
        body,
        {
            "X-Tongban-Event": str(webhook.event_id),
            "X-Tongban-Event-Type": webhook.event,
            "X-Tongban-Timestamp": timestamp,
            "X-Tongban-Signature": callback_signature(webhook.client.callback_secret, timestamp, body),
        },
    )
    now = timezone.now()
    with transaction.atomic():
        webhook = CaseWebhook.objects.select_for_update().select_related("client").get(pk=webhook_id)
        if webhook.state != CaseWebhook.State.PENDING:
            return "done"
        if 200 <= status < 300:
            webhook.state, webhook.finished_at, webhook.last_error, webhook.next_attempt_at = CaseWebhook.State.DONE, now, "", None
            webhook.save(update_fields=["state", "finished_at", "last_error", "next_attempt_at"])
            return "done"
        webhook.last_error = f"HTTP {status}" if status else "连接失败或超时"
        if webhook.attempts >= settings.CASE_WEBHOOK_MAX_ATTEMPTS:
            webhook.state, webhook.finished_at, webhook.next_attempt_at = CaseWebhook.State.FAILED, now, None
            webhook.save(update_fields=["state", "finished_at", "last_error", "next_attempt_at"])
            audit_record(
                actor=None,
                action="case_webhook.failed",
                object_type="api_client",
                object_id=str(webhook.client.public_id),
                after={"event_id": str(webhook.event_id), "case": webhook.payload.get("case", {}).get("code")},
                reason=webhook.last_error,
            )
            return "failed"
        webhook.save(update_fields=["last_error"])
        delay = settings.MESSAGING_RETRY_SECONDS * (2 ** (webhook.attempts - 1))
        _enqueue(webhook, run_after=now + timedelta(seconds=delay))
        return "retry"


def webhooks_sweep(*, limit: int = 500) -> dict[str, int]:
    """Queue again the pending webhooks whose task is gone (run by the worker's scheduler; bounded
    and idempotent: a webhook whose task still waits or runs is left alone)."""
    from tongban.messaging.tasks import live_task_ids

    now = timezone.now()
    pending = list(
        CaseWebhook.objects.filter(state=CaseWebhook.State.PENDING, next_attempt_at__lt=now - LOST_AFTER).order_by("next_attempt_at")[
            :limit
        ]
    ) + list(CaseWebhook.objects.filter(state=CaseWebhook.State.PENDING, next_attempt_at=None, created_at__lt=now - LOST_AFTER)[:limit])
    alive = live_task_ids([w.task_id for w in pending if w.task_id], running_since=now - LOST_AFTER)
    requeued = 0
    for webhook in pending:
        if webhook.task_id not in alive:
            _enqueue(webhook)
            requeued += 1
    return {"requeued": requeued}


def webhook_redrive(*, actor: Any, webhook_id: int, reason: str) -> CaseWebhook:
    """An operator posts a failed webhook again (after the system's outage, say): same event id."""
    if not reason.strip():
        raise ValidationFailed("请填写重新推送的原因。", code="reason_required")
    with transaction.atomic():
        webhook = CaseWebhook.objects.select_for_update().select_related("client").filter(pk=webhook_id).first()
        if webhook is None:
            raise NotFound("没有这条推送记录。", code="webhook_unknown")
        if webhook.state != CaseWebhook.State.FAILED:
            raise Conflict("只有推送失败的记录才能重新推送。", code="redrive_state")
        webhook.state, webhook.attempts, webhook.finished_at = CaseWebhook.State.PENDING, 0, None
        webhook.save(update_fields=["state", "attempts", "finished_at"])
        audit_record(
            actor=actor,
            action="case_webhook.redrive",
            object_type="api_client",
            object_id=str(webhook.client.public_id),
            after={"event_id": str(webhook.event_id)},
            reason=reason,
        )
        _enqueue(webhook)
    return webhook
