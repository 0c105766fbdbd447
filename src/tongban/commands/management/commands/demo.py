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
        parser.add_argument("--totp-code", metavar="USERNAME", help="print the current TOTP code of a demo staff account and stop")

    def handle(self, *args: Any, **options: Any) -> None:
        from tongban.demo.cases import DEMO_QUERY_PASSWORD
        from tongban.demo.loader import load_demo

        if options["totp_code"]:
            from tongban.identity.staff import demo_totp_secret, totp_code

            self.stdout.write(totp_code(demo_totp_secret(options["totp_code"])))
            return
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
            self.stdout.write(f"  {account.role:<10} 用户名 {account.username:<18} 密码 {account.password}   {account.where}")
            if account.totp:
                self.stdout.write(
                    f"  {'':<10} 动态验证码密钥 {account.totp}（加入验证器，或运行 tongban demo --totp-code {account.username}）"
                )
        client = summary.get("api_client")
        if client is not None:
            self.stdout.write("")
            self.stdout.write(f"部门系统接口（{client.name}，仅限演示）：POST {site}/api/v1/messages")
            self.stdout.write(f"  正式密钥 {client.live_key}")
            self.stdout.write(f"  测试密钥 {client.test_key}   （消息只校验和记录，不会发给任何人）")
            self.stdout.write(f"  同一密钥可调用办件接口 {site}/api/v1/cases（见 docs/cases-api.md）")
        app = summary.get("oidc_app")
        if app is not None:
            self.stdout.write("")
            self.stdout.write(f"演示接入应用“{app.name}”（OpenID Connect，仅限演示）：发现地址 {site}/o/.well-known/openid-configuration")
            self.stdout.write(f"  client_id {app.client_id}   client_secret {app.client_secret}")
            self.stdout.write(f"  回调地址 {app.redirect_uri}   授权范围 {app.scopes}")
        if summary.get("lookup_code"):
            self.stdout.write("")
            self.stdout.write(f"免登录查询办件 {site}/cases/lookup/ ：办件编号 {summary['lookup_code']}，查询密码 {DEMO_QUERY_PASSWORD}")
        self.stdout.write("")
        if options["serve"]:
            call_command("serve", with_worker=True)
