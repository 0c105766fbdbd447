"""gunicorn settings for `tongban serve` (sync workers: measured faster than async here, ADR 0001)."""

import multiprocessing
import os

bind = os.environ.get("BIND", f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", str(multiprocessing.cpu_count() * 2)))
worker_class = "sync"
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "20000"))
max_requests_jitter = 2000
accesslog = os.environ.get("ACCESS_LOG", "") or None
errorlog = "-"
preload_app = True  # load Django and jieba once; workers fork with them ready
wsgi_app = "tongban.config.wsgi:application"


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# gunicorn 27 opens a control socket in $HOME by default; two instances on one machine (demo and
# benchmark, or blue/green) would fight over it, and nothing here uses it.
control_socket_disable = True
