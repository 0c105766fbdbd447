"""The Django admin is a read-only window for operators; clerks and citizens never reach it."""

from __future__ import annotations

from django.test import Client


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_clerk_is_sent_to_the_admin_login(clerk):
    response = _client(clerk).get("/console/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/console/admin/login/")


def test_operator_can_view_but_not_change(operator, mini):
    client = _client(operator)
    assert client.get("/console/admin/").status_code == 200
    assert client.get("/console/admin/catalog/baseitem/").status_code == 200
    page = client.get(f"/console/admin/catalog/baseitem/{mini.birth.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    response = client.post(f"/console/admin/catalog/baseitem/{mini.birth.pk}/change/", {"name": "改名"})
    assert response.status_code == 403
    assert client.get("/console/admin/catalog/baseitem/add/").status_code == 403
    mini.birth.refresh_from_db()
    assert mini.birth.name == "出生登记（落户）"
