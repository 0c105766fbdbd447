"""The public JSON API, /api/v1/. The OpenAPI document is committed in docs/api/openapi.json."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from tongban.api import cases, catalog, messages, search
from tongban.common.errors import DomainError

api = NinjaAPI(
    title="通办 Tongban API",
    version="1.0.0",
    description=(
        '一体化在线政务服务平台的公开接口。错误统一返回 `{"code": 机器可读代码, "message": 中文说明}`。'
        "列表接口使用游标分页（`cursor`），不返回总数。"
    ),
    urls_namespace="api",
    docs_url="/docs",
)


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    body: dict[str, object] = {"code": exc.code, "message": exc.message}
    if exc.details is not None:
        body["details"] = exc.details
    return api.create_response(request, body, status=exc.status)


@api.exception_handler(NinjaValidationError)
def validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    fields = []
    for error in exc.errors:
        loc = ".".join(str(part) for part in error.get("loc", []) if part not in ("query", "path", "body"))
        fields.append({"field": loc, "problem": error.get("type", "invalid")})
    return api.create_response(
        request, {"code": "invalid_request", "message": "请求参数有误，请按接口文档检查后重试。", "details": fields}, status=422
    )


@api.exception_handler(AuthenticationError)
def auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(request, {"code": "unauthenticated", "message": "需要登录或有效的接口凭证。"}, status=401)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return api.create_response(request, {"code": "http_error", "message": str(exc)}, status=exc.status_code)


api.add_router("/", catalog.router)
api.add_router("/", search.router)
api.add_router("/", messages.router)
api.add_router("/", cases.router)
