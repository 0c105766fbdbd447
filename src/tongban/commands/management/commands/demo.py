from __future__ import annotations

import time
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Migrate and load the Jiangxi demo province (idempotent); --serve also starts the web server."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--serve", action="store_true", help="serve the platform after loading")

    def handle(self, *args: Any, **options: Any) -> None:
        from tongban.demo.loader import load_demo

        call_command("migrate", interactive=False, verbosity=0)
        started = time.monotonic()
        summary = load_demo()
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"演示数据已就绪（{elapsed:.1f} 秒）：{summary['divisions']} 个行政区划，{summary['items']} 个基本事项，"
            f"{summary['implementations']} 条实施清单，已建索引 {summary['indexed']} 项。"
        )
        self.stdout.write("")
        self.stdout.write("演示账号（登录 http://127.0.0.1:8000/console/ ）：")
        for account in summary["accounts"]:
            self.stdout.write(f"  {account.role:<10} 用户名 {account.username:<14} 密码 {account.password}   {account.where}")
        self.stdout.write("")
        if options["serve"]:
            call_command("serve")
