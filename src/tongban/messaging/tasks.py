"""Background work of the message centre. Tasks take ids and are idempotent; the delivery row, not
the task, holds the state, so a lost or repeated task changes nothing (see services.py)."""

from __future__ import annotations

import datetime as dt

from django_tasks import task
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from tongban.messaging import services


@task(queue_name="messages-sms")
def deliver(delivery_keys: list[str]) -> dict[str, int]:
    # Enqueued with .using(queue_name=f"messages-{channel}"): one queue per outside channel. One
    # task carries the deliveries of one channel from one send or one batch.
    return services.deliveries_attempt(delivery_keys)


@task(queue_name="callbacks")
def callback_post(callback_id: int) -> str:
    return services.callback_deliver(callback_id)


def live_task_ids(ids: list[str], *, running_since: dt.datetime) -> set[str]:
    """Which of these tasks still stand to run: waiting in their queue, or running and started
    recently (a task whose worker was killed stays "running" for ever). Reads the database
    backend's table in one query; a Redis/RQ backend would answer this from its own job registry."""
    if not ids:
        return set()
    rows = DBTaskResult.objects.filter(id__in=ids).values_list("id", "status", "started_at")
    return {
        str(pk)
        for pk, status, started in rows
        if status == TaskResultStatus.READY or (status == TaskResultStatus.RUNNING and started and started >= running_since)
    }
