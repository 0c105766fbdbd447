from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the platform with gunicorn (PORT, HOST, WEB_CONCURRENCY from the environment)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-collectstatic", action="store_true")
        parser.add_argument(
            "--with-worker", action="store_true", help="also run `tongban worker` (queues, SMS sandbox receipts) and stop it on exit"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["no_collectstatic"]:
            call_command("collectstatic", interactive=False, verbosity=0)
        metrics_dir = Path(settings.DATA_DIR) / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)  # stale files of dead workers would be summed
        metrics_dir.mkdir(parents=True)
        env = dict(os.environ)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        env.setdefault("DJANGO_SETTINGS_MODULE", "tongban.config.settings")
        host = env.get("HOST", "127.0.0.1")
        port = env.get("PORT", "8000")
        self.stdout.write(f"通办已启动：http://{host}:{port}/ （按 Ctrl+C 停止）")
        sys.stdout.flush()
        argv = [sys.executable, "-m", "gunicorn", "-c", "python:tongban.config.gunicorn"]
        if not options["with_worker"]:
            os.execve(sys.executable, argv, env)  # noqa: S606 - fixed argv
        tongban = str(Path(sys.executable).with_name("tongban"))
        worker = subprocess.Popen([tongban, "worker"], env=env)  # noqa: S603 - fixed argv
        self.stdout.write(f"后台任务进程已启动（pid {worker.pid}）")
        server = subprocess.Popen(argv, env=env)  # noqa: S603 - fixed argv
        try:
            server.wait()
        except KeyboardInterrupt:
            server.wait()  # Ctrl+C reaches the whole process group; gunicorn shuts down on its own
        finally:
            if worker.poll() is None:
                worker.terminate()
            worker.wait(timeout=30)
