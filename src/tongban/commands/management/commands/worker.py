from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection
from django_tasks_db.management.commands.db_worker import Worker

logger = logging.getLogger("tongban.worker")

# Each group gets its own thread, so a slow or stuck SMS gateway never holds up e-mail, push,
# callbacks or the platform's other work. Outside channels wait on their provider most of the
# time, so they get several threads each (WORKER_SMS_THREADS, WORKER_EMAIL_THREADS).
DEFAULT_GROUPS = ["default,callbacks", "messages-sms", "messages-email", "messages-push"]


def default_groups() -> list[str]:
    threads = {"messages-sms": settings.WORKER_SMS_THREADS, "messages-email": settings.WORKER_EMAIL_THREADS}
    return [group for group in DEFAULT_GROUPS for _ in range(threads.get(group, 1))]


class Command(BaseCommand):
    help = (
        "Run the background worker: one thread per queue group (django-tasks database backend) and a "
        "scheduler that re-drives stalled deliveries, expires old ones, lets the sandbox SMS gateway "
        "report its receipts and keeps the search index in step."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--queues",
            action="append",
            help="a comma-separated queue group for one thread; repeat for more threads (default: {})".format(" ".join(DEFAULT_GROUPS)),
        )
        parser.add_argument("--interval", type=float, default=0.5, help="seconds a thread sleeps when its queues are empty")
        parser.add_argument("--tick", type=float, default=2.0, help="seconds between scheduler rounds")
        parser.add_argument("--no-scheduler", action="store_true", help="run only the queue threads (another worker schedules)")

    def handle(self, *args: Any, **options: Any) -> None:
        from tongban.search.services import search_sync

        synced = search_sync()
        self.stdout.write(f"search index: {synced} items refreshed")
        connection.close()

        stop = threading.Event()
        workers: list[Worker] = []
        threads: list[threading.Thread] = []
        for group in options["queues"] or default_groups():
            queues = [q.strip() for q in group.split(",") if q.strip()]
            unknown = [q for q in queues if q != "*" and q not in settings.TASK_QUEUES]
            if unknown:
                self.stderr.write(f"unknown queue(s): {', '.join(unknown)}; known: {', '.join(settings.TASK_QUEUES)}")
                raise SystemExit(2)
            worker = Worker(
                queue_names=queues,
                interval=options["interval"],
                batch=False,
                backend_name="default",
                startup_delay=False,
                max_tasks=None,
                worker_id=f"{group[:40]}-{uuid.uuid4().hex[:8]}",
                excluded_queue_names=[],
            )
            workers.append(worker)
            threads.append(threading.Thread(target=_run_worker, args=(worker,), name=f"queue:{group}", daemon=True))
        if not options["no_scheduler"]:
            threads.append(threading.Thread(target=_schedule, args=(stop, options["tick"]), name="scheduler", daemon=True))

        def shutdown(signum: int, frame: Any) -> None:
            logger.info("worker stopping on %s", signal.strsignal(signum))
            stop.set()
            for worker in workers:
                worker.running = False

        signal.signal(signal.SIGINT, shutdown)
        signal.signal(signal.SIGTERM, shutdown)
        for thread in threads:
            thread.start()
        self.stdout.write(f"worker running: {len(workers)} queue threads, scheduler {'off' if options['no_scheduler'] else 'on'}")
        while not stop.is_set():
            stop.wait(1)
            if not any(t.is_alive() for t in threads):
                break
        for thread in threads:
            thread.join(timeout=30)


def _run_worker(worker: Worker) -> None:
    try:
        worker.run()
    finally:
        connection.close()


def _schedule(stop: threading.Event, tick: float) -> None:
    """The platform's clock-driven work, each round bounded. Several workers may run it at once:
    every job is idempotent and takes row locks where it changes state."""
    from tongban.cases.reminders import cases_remind
    from tongban.cases.services import cases_deem_accepted
    from tongban.cases.webhooks import webhooks_sweep as case_webhooks_sweep
    from tongban.messaging.sandbox import sandbox_report_due
    from tongban.messaging.services import messaging_sweep
    from tongban.search.services import search_sync

    jobs = [("messaging_sweep", messaging_sweep), ("search_sync", search_sync), ("cases_deem_accepted", cases_deem_accepted)]
    jobs.append(("cases_remind", cases_remind))
    jobs.append(("case_webhooks_sweep", case_webhooks_sweep))
    if settings.SMS_PROVIDER == "sandbox":
        jobs.append(("sandbox_sms_receipts", sandbox_report_due))
    while not stop.is_set():
        close_old_connections()
        for name, job in jobs:
            started = time.monotonic()
            try:
                result = job()
            except Exception:  # one failing job must not stop the others; it is logged
                logger.exception("scheduled job %s failed", name)
                continue
            if result and (not isinstance(result, dict) or any(result.values())):
                logger.info("scheduled job %s: %s (%.0f ms)", name, result, 1000 * (time.monotonic() - started))
        stop.wait(tick)
    connection.close()
