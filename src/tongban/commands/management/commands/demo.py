from __future__ import annotations

import os
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
        site = f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
        self.stdout.write(f"演示账号（工作人员登录 {site}/console/ ，市民登录 {site}/login/ ）：")
        for account in summary["accounts"]:
            self.stdout.write(f"  {account.role:<10} 用户名 {account.username:<14} 密码 {account.password}   {account.where}")
        client = summary.get("api_client")
        if client is not None:
            self.stdout.write("")
            self.stdout.write(f"部门系统接口（{client.name}，仅限演示）：POST {site}/api/v1/messages")
            self.stdout.write(f"  正式密钥 {client.live_key}")
            self.stdout.write(f"  测试密钥 {client.test_key}   （消息只校验和记录，不会发给任何人）")
        self.stdout.write("")
        if options["serve"]:
            call_command("serve", with_worker=True)
