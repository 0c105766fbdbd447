"""Background work of identity: logout tokens owed to applications (queue ``callbacks``)."""

from __future__ import annotations

from django_tasks import task

from tongban.identity import sessions


@task(queue_name="callbacks")
def backchannel_logout(notice_id: int) -> str:
    return sessions.backchannel_deliver(notice_id)
