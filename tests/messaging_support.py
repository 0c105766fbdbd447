"""Helpers for message-centre tests: run the queued work as the worker would, and let the sandbox
SMS gateway post its receipts through the real HTTP endpoint (Django's test client)."""

from __future__ import annotations

from django.test import Client
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult


def drain(queues: list[str] | None = None, rounds: int = 5) -> int:
    """Run every task that is due, in the named queues (all by default), the way db_worker does
    (claim, run, record) but without its connection housekeeping, which would close the test's
    transaction. Tasks that enqueue more due work are picked up too, for a bounded number of rounds."""
    worker = Worker(
        queue_names=queues or ["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test",
        excluded_queue_names=[],
    )
    ran = 0
    for _ in range(rounds):
        ready = DBTaskResult.objects.ready().filter(backend_name="default")
        if queues:
            ready = ready.filter(queue_name__in=queues)
        batch = list(ready.order_by("priority", "enqueued_at")[:1000])
        if not batch:
            break
        for task_result in batch:
            task_result.claim(worker.worker_id)
            worker.run_task(task_result)
            ran += 1
    return ran


def test_client_transport(client: Client):  # type: ignore[no-untyped-def]
    """A transport for sandbox_report_due that posts through Django's test client."""

    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        path = url.split("://", 1)[-1]
        path = path[path.index("/") :]
        extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
        return client.post(path, data=body, content_type="application/json", **extra).status_code

    return post


test_client_transport.__test__ = False  # type: ignore[attr-defined]
