from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import URLValidator


class Command(BaseCommand):
    help = "Department systems (API clients) of the partner API: create one and print its keys, once, as JSON."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="register a department system and issue its live and test keys")
        create.add_argument("--name", required=True, help="the system's name, unique")
        create.add_argument("--department", required=True, help="the department's unified social credit code")
        create.add_argument("--callback-url", default="", help="where delivery reports are posted (optional)")
        create.add_argument("--rate-limit", type=int, default=3000, help="calls per minute (default 3000)")

    def handle(self, *args: Any, **options: Any) -> None:
        from tongban.common.errors import DomainError
        from tongban.identity import services
        from tongban.org.models import Department

        if options["action"] != "create":  # pragma: no cover - argparse allows nothing else
            raise CommandError(f"未知操作：{options['action']}")
        code = options["department"].strip().upper()
        department = Department.objects.filter(credit_code=code).first()
        if department is None:
            raise CommandError(f"没有统一社会信用代码为“{code}”的部门")
        url = options["callback_url"].strip()
        if url:
            try:
                URLValidator(schemes=["https", "http"])(url)
            except ValidationError as exc:
                raise CommandError(f"回调地址“{url}”无效") from exc
        try:
            client, keys = services.api_client_create(
                actor=None,
                name=options["name"].strip(),
                department=department,
                callback_url=url,
                rate_limit_per_minute=options["rate_limit"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            json.dumps(
                {
                    "client_id": str(client.public_id),
                    "live_key": keys["live"],
                    "test_key": keys["test"],
                    "callback_secret": client.callback_secret,
                },
                ensure_ascii=False,
            )
        )
