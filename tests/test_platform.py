"""Health, readiness, metrics, request ids, security headers, and a walk over every route."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.mark.django_db
def test_healthz_touches_nothing(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_database_and_migrations(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}


@pytest.mark.django_db
def test_metrics_loopback_or_token(client, settings):
    client.get("/healthz")
    body = client.get("/metrics").content.decode()
    assert 'tongban_http_requests_total{method="GET",route="healthz",status="200"}' in body
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


def test_request_id_is_echoed_or_minted(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abcdef12-3456").headers["X-Request-ID"] == "abcdef12-3456"
    minted = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", minted)


def test_security_headers(client):
    headers = client.get("/healthz").headers
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"


# Every route must be in exactly one register. A new route fails this test until someone decides
# who may use it — deny by default.
PUBLIC = {
    "healthz",
    "readyz",
    "metrics",
    "portal:home",
    "portal:search",
    "portal:services",
    "portal:service",
    "portal:guide",
    "portal:theme",
    "portal:zone",
    "portal:halls",
    "portal:mode",
    # Citizen sign-in and sign-out (sign-out is POST only); one-click unsubscribe from an e-mail,
    # where the signed token in the address is the permission (tests/test_inbox_pages.py).
    "portal:login",
    "portal:logout",
    "portal:unsubscribe",
    # Registering and resetting a forgotten password start from nothing: the one-time code sent
    # to the number is the permission (tests/test_persons.py).
    "portal:register",
    "portal:password_reset",
    # Looking a case up by its code and query password needs no sign-in; rate limited, one answer
    # for an unknown code and a wrong password (tests/test_apply.py).
    "portal:case_lookup",
    # The list of "one thing done once" bundles is public like the guides (tests/test_bundle_apply.py).
    "portal:bundles",
    # The OpenID Connect provider: each endpoint authenticates by the protocol itself (the person's
    # session for authorize, client credentials for token/revoke/introspect, a bearer token for
    # userinfo); discovery and the JWKS are public by design. tests/test_oidc.py proves each.
    "oauth2_provider:authorize",
    "oauth2_provider:token",
    "oauth2_provider:revoke-token",
    "oauth2_provider:introspect",
    "oauth2_provider:oidc-connect-discovery-info",
    "oauth2_provider:jwks-info",
    "oauth2_provider:user-info",
    "oauth2_provider:rp-initiated-logout",
    "console:login",
    "admin:login",
    "admin:logout",
}
PUBLIC_API = {"list_divisions", "get_division", "list_departments", "list_items", "get_item", "search", "post_receipts"}
# Operations for department systems: an API key is required (tests/test_messages_api.py proves each).
CLIENT_API = {"send_message", "send_messages", "get_message", "list_messages"}
# ... and for their department's cases (tests/test_cases_api.py proves each).
CLIENT_API |= {"list_cases", "list_case_changes", "get_case", "get_case_file", "act_on_case", "add_case_document"}


def _walk(patterns, prefix="", namespace=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), f"{namespace}{p.name}" if p.name else None, p


def _example(route: str) -> str:
    route = route.replace("^", "").replace("$", "").replace("\\Z", "")
    route = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "2026" if m.group(1) in ("year",) else "x1", route)
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "x1", route)
    return "/" + route


@pytest.mark.django_db
def test_every_route_requires_the_right_authentication(client):
    unlisted = []
    for route, name, _pattern in _walk(get_resolver().url_patterns):
        url = _example(route)
        if name in PUBLIC:
            continue
        if route.startswith("api/v1/"):
            operation = name.split(":")[-1] if name else ""
            if operation in PUBLIC_API or "openapi" in route or route.endswith("docs"):
                continue
            response = client.get(url)
            assert response.status_code in (401, 403, 404, 405), (url, response.status_code)
            continue
        if route.startswith("console/admin/"):
            response = client.get(url)
            assert response.status_code in (302, 404), (url, response.status_code)
            if response.status_code == 302:
                assert "/console/admin/login/" in response["Location"], url
            continue
        if route.startswith("console/"):
            for method in ("get", "post"):
                response = getattr(client, method)(url)
                assert response.status_code in (302, 403, 404, 405), (method, url, response.status_code)
                if response.status_code == 302:
                    assert response["Location"].startswith("/console/login"), (method, url)
            continue
        if route.startswith("workbench/"):
            # Department staff's workbench (tests/test_workbench.py): staff only, as the console.
            for method in ("get", "post"):
                response = getattr(client, method)(url)
                assert response.status_code in (302, 404, 405), (method, url, response.status_code)
                if response.status_code == 302:
                    assert response["Location"].startswith("/console/login"), (method, url)
            continue
        if route.startswith(("my/", "enterprise/", "apply/", "files/")) or name == "portal:bundle_apply":
            # A citizen's own pages and the enterprise pages (tests/test_enterprises.py), and stored
            # files (tests/test_materials.py): anonymous visitors are sent to the portal's sign-in page.
            for method in ("get", "post"):
                response = getattr(client, method)(url)
                assert response.status_code == 302, (method, url, response.status_code)
                assert response["Location"].startswith("/login/"), (method, url)
            continue
        unlisted.append(route)
    assert unlisted == [], f"routes nobody decided about: {unlisted}"


def test_api_operations_are_all_known():
    from tongban.api.urls import api

    operations = set()
    schema = api.get_openapi_schema(path_prefix="/api/v1")
    for path_item in schema["paths"].values():
        for op in path_item.values():
            operations.add(op["operationId"])
    assert operations == PUBLIC_API | CLIENT_API


def test_every_setting_read_from_the_environment_is_documented():
    root = Path(__file__).resolve().parent.parent
    source = (root / "src/tongban/config/settings.py").read_text()
    names = set(re.findall(r'env_(?:str|bool|int|list|choice)\("([A-Z_]+)"', source)) | set(
        re.findall(r'os\.environ\.get\("([A-Z_]+)"', source)
    )
    documented = (root / "docs/configuration.md").read_text()
    missing = sorted(name for name in names if f"`{name}`" not in documented)
    assert missing == []
