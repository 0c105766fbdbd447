"""Liveness, readiness and metrics for load balancers and Prometheus."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.http import require_GET

from tongban.common.observability import metrics_payload


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up. Touches nothing else, so a slow database does not get it killed."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """The process can serve: the database answers and the migrations are applied."""
    checks: dict[str, str] = {}
    ok = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"error: {type(exc).__name__}"
        ok = False
    if ok:
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        checks["migrations"] = "ok" if not pending else f"{len(pending)} pending"
        ok = not pending
    if settings.REDIS_URL:
        from django.core.cache import cache

        try:
            cache.set("readyz", "1", 5)
            checks["cache"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["cache"] = f"error: {type(exc).__name__}"
            ok = False
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition. With METRICS_TOKEN set a bearer token is required; without it only
    loopback clients (a scraper beside the app, or nginx's own check) are answered."""
    token = settings.METRICS_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "")
        if not constant_time_compare(supplied, f"Bearer {token}"):
            return JsonResponse({"code": "unauthenticated", "message": "需要有效的监控凭证。"}, status=401)
    elif request.META.get("REMOTE_ADDR") not in ("127.0.0.1", "::1"):
        return JsonResponse({"code": "forbidden", "message": "监控指标只对本机或持有凭证的采集器开放。"}, status=403)
    return HttpResponse(metrics_payload(), content_type="text/plain; version=0.0.4; charset=utf-8")
