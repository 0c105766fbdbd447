"""Portal pages through the test client: exact query counts on the hot pages, and plain HTML
behaviour (cookies, redirects, errors) that the browser tests do not need to repeat."""

from __future__ import annotations

import pytest
from django.test import Client

from tests import factories as f


@pytest.fixture
def client() -> Client:
    return Client()


def test_home_query_count(mini, client, django_assert_num_queries):
    client.get("/")  # halls and the hall's scope are now cached in this process
    # popular items, their direct implementations, themes, zones
    with django_assert_num_queries(4):
        response = client.get("/")
    assert response.status_code == 200
    assert "出生登记（落户）" in response.content.decode()


def test_guide_query_count(mini, client, django_assert_num_queries):
    impl = f.impl_of(mini.birth, mini.police_donghu)
    client.get(f"/guide/{impl.code}")
    # implementation with base, department, division; materials, steps, fees, FAQ, themes (the
    # calendar for the "预计…前办结" date was loaded by the first request and is shared a minute);
    # whether it has a current online application form (the “在线申请” button)
    with django_assert_num_queries(7):
        response = client.get(f"/guide/{impl.code}")
    page = response.content.decode()
    assert response.status_code == 200
    assert "东湖区公安局" in page
    assert "本平台暂未开通该事项的网上申请" in page


def test_hall_choice_is_remembered_and_rescopes(mini, client):
    response = client.post("/halls", {"hall": "361130", "next": "/search?q=上牌"})
    assert response.status_code == 302
    assert response["Location"] == "/search?q=%E4%B8%8A%E7%89%8C"
    assert response.cookies["tb_hall"].value == "361130"
    page = client.get("/search", {"q": "上牌"}).content.decode()
    assert "婺源县" in page
    assert "机动车注册登记（新车上牌）" not in page  # a 南昌 item is out of 婺源's scope


def test_unknown_hall_and_open_redirect_are_refused(mini, client):
    assert client.post("/halls", {"hall": "999999"}).status_code == 400
    response = client.post("/halls", {"hall": "360100", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_care_mode_toggle(mini, client):
    response = client.post("/mode/care", {"on": "1", "next": "/services"})
    assert response["Location"] == "/services"
    assert response.cookies["tb_care"].value == "1"
    assert '<body class="care ' in client.get("/").content.decode()
    client.post("/mode/care", {"on": "0"})
    assert '<body class="care ' not in client.get("/").content.decode()


def test_kiosk_reset_forgets_the_visitor_but_stays_a_kiosk(mini, client):
    client.post("/mode/kiosk", {"on": "1"})
    client.post("/mode/care", {"on": "1"})
    client.post("/halls", {"hall": "361130"})
    response = client.post("/mode/kiosk-reset")
    assert response["Location"] == "/"
    assert response.cookies["tb_care"].value == ""
    assert response.cookies["tb_hall"].value == ""
    assert "tb_kiosk" not in response.cookies


def test_service_page_redirects_or_offers_regions(mini, client):
    # from 婺源 the birth registration is local: straight to its guide
    client.post("/halls", {"hall": "361130"})
    response = client.get(f"/services/{mini.birth.code}")
    assert response.status_code == 302
    assert response["Location"] == f"/guide/{f.impl_of(mini.birth, mini.police_wuyuan).code}"
    # from the province it is done in three counties: choose one
    client.post("/halls", {"hall": "360000"})
    page = client.get(f"/services/{mini.birth.code}").content.decode()
    assert "东湖区" in page and "南昌县" in page and "婺源县" in page


@pytest.mark.parametrize("path", ["/guide/" + "0" * 31, "/services/000000000000", "/themes/nope", "/zones/nope"])
def test_missing_things_are_404_with_a_friendly_page(mini, client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "回到首页" in response.content.decode() or "首页" in response.content.decode()


@pytest.mark.parametrize("query", ["", "出" * 10_000, "\x00", "' OR 1=1 --"])
def test_search_page_bad_input_is_never_a_500(mini, client, query):
    response = client.get("/search", {"q": query})
    assert response.status_code in (200, 400)
