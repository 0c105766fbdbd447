"""Background work of the case centre. Tasks take ids and are idempotent: the webhook row, not the
task, holds the state, so a lost or repeated task changes nothing (see webhooks.py)."""

from __future__ import annotations

from django_tasks import task

from tongban.cases import webhooks


@task(queue_name="callbacks")
def case_webhook_post(webhook_id: int) -> str:
    return webhooks.webhook_deliver(webhook_id)
