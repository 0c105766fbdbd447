"""The public catalogue and search API: shapes, cursor pagination, error codes, query counts."""

from __future__ import annotations

import pytest
from django.test import Client

from tests import factories as f


@pytest.fixture
def client() -> Client:
    return Client()


def test_divisions(mini, client):
    body = client.get("/api/v1/divisions", {"parent": "360100"}).json()
    assert body == [
        {"code": "360102", "name": "东湖区", "level": 4, "parent": "360100"},
        {"code": "360121", "name": "南昌县", "level": 4, "parent": "360100"},
    ]
    assert client.get("/api/v1/divisions/361130").json()["name"] == "婺源县"
    missing = client.get("/api/v1/divisions/999999")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


def test_items_cursor_pagination_visits_every_item_once(mini, client):
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/items", params).json()
        seen.extend(item["code"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7  # birth 3 + car 1 + card 1 + company 2
    assert seen == sorted(seen)


def test_items_filters(mini, client):
    by_division = client.get("/api/v1/items", {"division": "361130"}).json()["items"]
    assert [i["name"] for i in by_division] == ["出生登记（落户）"]
    by_theme = client.get("/api/v1/items", {"theme": "e_start"}).json()["items"]
    assert {i["name"] for i in by_theme} == {"企业设立登记（有限责任公司）"}
    by_object = client.get("/api/v1/items", {"service_object": 2}).json()["items"]
    assert len(by_object) == 2
    by_level = client.get("/api/v1/items", {"level": 2}).json()["items"]
    assert [i["name"] for i in by_level] == ["社会保障卡申领"]


def test_bad_cursor_and_bad_parameters(mini, client):
    response = client.get("/api/v1/items", {"cursor": "!!!not-a-cursor"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"
    response = client.get("/api/v1/items", {"level": "abc"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"


def test_one_item_has_the_whole_guide(mini, client):
    impl = f.impl_of(mini.birth, mini.police_donghu)
    body = client.get(f"/api/v1/items/{impl.code}").json()
    assert body["code"] == impl.code
    assert body["base_code"] == "070100001000"
    assert body["department"]["credit_code"] == mini.police_donghu.credit_code
    assert body["legal_limit"] == {"value": 20, "unit": "工作日", "note": ""}
    assert [m["name"] for m in body["materials"]] == ["出生医学证明", "父母双方居民户口簿"]
    assert body["materials"][0]["license_type"] == "出生医学证明"
    assert body["online_apply_url"] is None
    assert client.get("/api/v1/items/" + "0" * 31).json()["code"] == "not_found"


def test_withdrawn_items_are_not_served(mini, client):
    from tongban.catalog import services as catalog

    impl = f.impl_of(mini.car, mini.police_nanchang)
    catalog.implementation_set_status(actor=None, code=impl.code, status="withdrawn", reason="调整")
    assert client.get(f"/api/v1/items/{impl.code}").status_code == 404


def test_search_api(mini, client):
    body = client.get("/api/v1/search", {"q": "上户口", "hall": "361130"}).json()
    assert body["hall"] == "361130"
    assert body["hits"][0]["name"] == "出生登记（落户）"
    assert body["hits"][0]["implementation"] == f.impl_of(mini.birth, mini.police_wuyuan).code


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"q": ""}, 422, "empty_query"),
        ({"q": "出" * 10_000}, 422, "query_too_long"),
        ({"q": "\x00\x07"}, 422, "empty_query"),
        ({"q": "出生", "hall": "999999"}, 404, "not_found"),
        ({"q": "出生", "limit": "x"}, 422, "invalid_request"),
    ],
)
def test_search_bad_input_is_never_a_500(mini, client, params, status, code):
    response = client.get("/api/v1/search", params)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["message"]


@pytest.mark.parametrize("hostile", ["' OR '1'='1", '出生" OR "', "*", "NEAR(a b)", "%", "() AND"])
def test_search_hostile_strings(mini, client, hostile):
    assert client.get("/api/v1/search", {"q": hostile}).status_code == 200


def test_search_rate_limit(mini, client, settings):
    settings.RATE_LIMIT_SEARCH_PER_MINUTE = 3
    from django.core.cache import cache

    cache.clear()
    statuses = [client.get("/api/v1/search", {"q": "出生"}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert client.get("/api/v1/search", {"q": "出生"}).json()["code"] == "rate_limited"
    cache.clear()


def test_hot_endpoints_query_counts(mini, client, django_assert_num_queries):
    impl = f.impl_of(mini.birth, mini.police_donghu)
    client.get("/api/v1/search", {"q": "出生"})  # index is fresh after this
    # one item: impl+base+dept+division+parent joined, then materials, steps, fees, faqs, themes
    with django_assert_num_queries(6):
        assert client.get(f"/api/v1/items/{impl.code}").status_code == 200
    with django_assert_num_queries(1):
        assert client.get("/api/v1/items", {"limit": 5}).status_code == 200
    # search: feed positions, the hall's scope, candidates (scored, scoped and filtered in one
    # query), page items, direct implementations; halls, token frequencies and synonyms were
    # cached by the first search
    with django_assert_num_queries(5):
        assert client.get("/api/v1/search", {"q": "出生", "hall": "360102"}).status_code == 200
    # the hall's scope is cached per process too
    with django_assert_num_queries(4):
        assert client.get("/api/v1/search", {"q": "出生", "hall": "360102"}).status_code == 200


def test_openapi_is_served_and_committed_copy_is_current(client, db):
    import json
    from pathlib import Path

    from tongban.commands.management.commands.openapi import openapi_text

    served = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/search" in served["paths"]
    committed = Path(__file__).resolve().parent.parent / "docs" / "api" / "openapi.json"
    assert json.loads(committed.read_text(encoding="utf-8")) == json.loads(openapi_text())


def test_rate_limit_counts_the_real_client_behind_our_proxy(mini, client, settings):
    from django.core.cache import cache

    cache.clear()
    settings.RATE_LIMIT_SEARCH_PER_MINUTE = 2
    settings.BEHIND_PROXY = True
    # two citizens behind the same proxy address are counted apart
    for _ in range(2):
        assert client.get("/api/v1/search", {"q": "出生"}, HTTP_X_REAL_IP="203.0.113.7").status_code == 200
    assert client.get("/api/v1/search", {"q": "出生"}, HTTP_X_REAL_IP="203.0.113.7").status_code == 429
    assert client.get("/api/v1/search", {"q": "出生"}, HTTP_X_REAL_IP="203.0.113.8").status_code == 200
    # without a proxy, a client-supplied header changes nothing
    settings.BEHIND_PROXY = False
    cache.clear()
    statuses = [client.get("/api/v1/search", {"q": "出生"}, HTTP_X_REAL_IP=f"198.51.100.{i}").status_code for i in range(3)]
    assert statuses == [200, 200, 429]
    cache.clear()
