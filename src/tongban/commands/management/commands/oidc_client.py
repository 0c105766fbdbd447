from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Applications of the OpenID Connect provider: register one and print its client id and secret, once, as JSON."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="register an application (authorisation code, or client credentials)")
        create.add_argument("--name", required=True, help="the application's name, unique; people see it when they consent")
        create.add_argument("--redirect-uri", action="append", default=[], help="a redirect URI (repeat for several)")
        create.add_argument("--post-logout-redirect-uri", action="append", default=[], help="where to return after logout (repeatable)")
        create.add_argument("--backchannel-logout-uri", default="", help="where signed logout tokens are posted")
        create.add_argument(
            "--scopes", default=None, help='space-separated scopes (default "openid profile"; "messages" with --api-client)'
        )
        create.add_argument("--id-number-reason", default="", help="the legal basis that allows the id_number scope")
        create.add_argument("--client-credentials", action="store_true", help="a system calling the platform, not people signing in")
        create.add_argument("--api-client", default="", help="with --client-credentials: link this messages API client (its name)")
        create.add_argument("--public", action="store_true", help="a public client (mobile or single-page app, PKCE, no secret)")
        create.add_argument("--department", default="", help="the owning department's unified social credit code")

    def handle(self, *args: Any, **options: Any) -> None:
        from tongban.common.errors import DomainError
        from tongban.identity import applications
        from tongban.identity.models import ApiClient, OidcApplication
        from tongban.org.models import Department

        if options["action"] != "create":  # pragma: no cover - argparse allows nothing else
            raise CommandError(f"未知操作：{options['action']}")
        department = None
        code = options["department"].strip().upper()
        if code:
            department = Department.objects.filter(credit_code=code).first()
            if department is None:
                raise CommandError(f"没有统一社会信用代码为“{code}”的部门")
        api_client = None
        if options["api_client"]:
            if not options["client_credentials"]:
                raise CommandError("--api-client 只能与 --client-credentials 一起使用")
            api_client = ApiClient.objects.filter(name=options["api_client"].strip()).first()
            if api_client is None:
                raise CommandError(f"没有名为“{options['api_client']}”的接入系统（先用 tongban api-client create 创建）")
        scopes = options["scopes"]
        if scopes is None:
            scopes = "messages" if api_client is not None else "openid profile"
        data = applications.AppData(
            name=options["name"],
            redirect_uris=options["redirect_uri"],
            post_logout_redirect_uris=options["post_logout_redirect_uri"],
            backchannel_logout_uri=options["backchannel_logout_uri"],
            scopes=scopes.split(),
            id_number_reason=options["id_number_reason"],
            department=department,
            client_type=OidcApplication.CLIENT_PUBLIC if options["public"] else OidcApplication.CLIENT_CONFIDENTIAL,
            grant_type=applications.GRANT_CLIENT_CREDENTIALS if options["client_credentials"] else applications.GRANT_AUTHORIZATION_CODE,
        )
        try:
            app, secret = applications.application_create(actor=None, data=data, api_client=api_client)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps({"client_id": app.client_id, "client_secret": secret}, ensure_ascii=False))
