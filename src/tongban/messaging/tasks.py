"""Background work of the message centre. Tasks take ids and are idempotent; the delivery row, not
the task, holds the state, so a lost or repeated task changes nothing (see services.py)."""

from __future__ import annotations

from django_tasks import task

from tongban.messaging import services


@task(queue_name="messages-sms")
def deliver(delivery_id: int) -> str:
    # Enqueued with .using(queue_name=f"messages-{channel}"): one queue per outside channel.
    return services.delivery_attempt(delivery_id)


@task(queue_name="callbacks")
def callback_post(callback_id: int) -> str:
    return services.callback_deliver(callback_id)
