"""/api/v1/messages for department systems: keys, idempotency, test mode, rate limits, who sees
what, and signed callbacks to the system's own URL (a real HTTP server on loopback)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import uuid

import pytest
from django.db import connection, transaction

from tests.messaging_support import drain
from tongban.common.models import AuditEvent
from tongban.identity import services as identity
from tongban.messaging import services as messaging
from tongban.messaging.models import Callback, InboxItem, Message

CASE = {"item": "不动产登记", "case_code": "BDC-2026-0001", "step": "办结", "link": "/my/cases/9"}


@pytest.fixture
def dept_templates(mini, templates):
    """A template that belongs to 东湖区公安局 (the department of the client below)."""
    messaging.template_save(
        actor=None,
        code="police-notice",
        name="公安办件通知",
        category="case_progress",
        department=mini.police_donghu,
        placeholders=[{"name": "item", "type": "text"}, {"name": "case_code", "type": "code"}],
        texts={"inbox_title": "${item}", "inbox_body": "您的${item}（${case_code}）已办结。", "sms_body": "您的${item}已办结。"},
        fallback={"sms": ["email"]},
    )


@pytest.fixture
def police_system(mini, dept_templates):
    client, keys = identity.api_client_create(actor=None, name="公安审批系统", department=mini.police_donghu)
    return client, keys


def _auth(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def _send(client, key, *, recipient, data=None, template="police-notice", idem=None, reference="R-1"):
    headers = _auth(key)
    if idem:
        headers["HTTP_IDEMPOTENCY_KEY"] = idem
    body = {
        "template": template,
        "recipient": recipient,
        "data": data if data is not None else {"item": "户口迁移", "case_code": "HK-1"},
        "reason": "办结通知",
        "reference": reference,
    }
    return client.post("/api/v1/messages", data=json.dumps(body), content_type="application/json", **headers)


@pytest.mark.django_db
def test_every_operation_needs_a_valid_key(client, police_system, citizen):
    _, keys = police_system
    assert client.post("/api/v1/messages", data="{}", content_type="application/json").status_code == 401
    assert client.get("/api/v1/messages").status_code == 401
    assert client.get(f"/api/v1/messages/{uuid.uuid4()}").status_code == 401
    forged = keys["live"][:-4] + "AAAA"
    response = _send(client, forged, recipient={"account_id": str(citizen.public_id)})
    assert response.status_code == 401 and response.json()["code"] == "unauthenticated"
    swapped = keys["live"].replace("tb_live_", "tb_test_")
    assert _send(client, swapped, recipient={"account_id": str(citizen.public_id)}).status_code == 401
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_send_by_account_and_by_id_number_resolved_on_the_server(client, police_system, citizen):
    _, keys = police_system
    response = _send(client, keys["live"], recipient={"account_id": str(citizen.public_id)})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "delivered" and body["test"] is False and body["reference"] == "R-1"
    assert {d["channel"]: d["status"] for d in body["deliveries"]} == {"inbox": "delivered", "sms": "created"}
    assert [d["address"] for d in body["deliveries"] if d["channel"] == "sms"] == ["138****5678"]
    response = _send(client, keys["live"], recipient={"id_number": "11010519491231002x"})
    assert response.status_code == 201
    assert Message.objects.get(public_id=response.json()["id"]).recipient == citizen
    assert "11010519491231002" not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("recipient", "status", "code"),
    [
        ({"id_number": "110105194912310021"}, 404, "recipient_unknown"),
        ({"account_id": str(uuid.UUID(int=1))}, 404, "recipient_unknown"),
        ({}, 422, "recipient_ambiguous"),
    ],
)
def test_unknown_or_ambiguous_recipients_are_refused(client, police_system, citizen, recipient, status, code):
    _, keys = police_system
    response = _send(client, keys["live"], recipient=recipient)
    assert response.status_code == status and response.json()["code"] == code
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_bad_template_data_is_a_clear_422(client, police_system, citizen):
    _, keys = police_system
    response = _send(client, keys["live"], recipient={"account_id": str(citizen.public_id)}, data={"item": "户口迁移"})
    assert response.status_code == 422 and response.json()["code"] == "template_data_missing"
    assert response.json()["details"] == {"missing": ["case_code"]}
    refused = AuditEvent.objects.get(action="message.refused")
    assert refused.after["code"] == "template_data_missing" and refused.object_id == str(police_system[0].public_id)


@pytest.mark.django_db
def test_a_client_may_only_use_its_departments_templates(client, police_system, citizen):
    _, keys = police_system
    response = _send(client, keys["live"], recipient={"account_id": str(citizen.public_id)}, template="account-otp", data={})
    assert response.status_code == 403 and response.json()["code"] == "template_forbidden"


@pytest.mark.django_db
def test_the_same_idempotency_key_has_one_effect(client, police_system, citizen):
    _, keys = police_system
    first = _send(client, keys["live"], recipient={"account_id": str(citizen.public_id)}, idem="case-9-done")
    again = _send(client, keys["live"], recipient={"account_id": str(citizen.public_id)}, idem="case-9-done")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and Message.objects.count() == 1
    other = _send(
        client, keys["live"], recipient={"account_id": str(citizen.public_id)}, idem="case-9-done", data={"item": "别的", "case_code": "X"}
    )
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"


@pytest.mark.django_db(transaction=True)
def test_two_requests_with_one_idempotency_key_at_once_make_one_message(police_system, citizen):
    from django.test import Client

    _, keys = police_system
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def post() -> None:
        barrier.wait()
        try:
            codes.append(_send(Client(), keys["live"], recipient={"account_id": str(citizen.public_id)}, idem="same").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(codes) == [200, 200, 200, 201]
    assert Message.objects.count() == 1 and InboxItem.objects.count() == 1


@pytest.mark.django_db
def test_test_keys_check_everything_and_reach_no_one(client, police_system, citizen):
    _, keys = police_system
    response = _send(client, keys["test"], recipient={"account_id": str(citizen.public_id)})
    assert response.status_code == 201 and response.json()["test"] is True
    assert not InboxItem.objects.exists()
    assert drain() == 0
    bad = _send(client, keys["test"], recipient={"account_id": str(citizen.public_id)}, data={})
    assert bad.status_code == 422


@pytest.mark.django_db
def test_a_client_sees_only_its_own_messages(client, mini, police_system, citizen, dept_templates):
    _, keys = police_system
    _, other_keys = identity.api_client_create(actor=None, name="另一个系统", department=mini.police_donghu)
    mine = _send(client, keys["live"], recipient={"account_id": str(citizen.public_id)}).json()["id"]
    assert client.get(f"/api/v1/messages/{mine}", **_auth(keys["live"])).status_code == 200
    response = client.get(f"/api/v1/messages/{mine}", **_auth(other_keys["live"]))
    assert response.status_code == 404 and response.json()["code"] == "message_unknown"
    assert client.get("/api/v1/messages", **_auth(other_keys["live"])).json() == {"items": [], "next_cursor": None}
    listed = client.get("/api/v1/messages?limit=1", **_auth(keys["live"])).json()
    assert [m["id"] for m in listed["items"]] == [mine]


@pytest.mark.django_db
def test_listing_pages_with_a_cursor(client, police_system, citizen):
    _, keys = police_system
    ids = [_send(client, keys["live"], recipient={"account_id": str(citizen.public_id)}).json()["id"] for _ in range(3)]
    first = client.get("/api/v1/messages?limit=2", **_auth(keys["live"])).json()
    second = client.get(f"/api/v1/messages?limit=2&cursor={first['next_cursor']}", **_auth(keys["live"])).json()
    assert [m["id"] for m in first["items"] + second["items"]] == list(reversed(ids))
    assert second["next_cursor"] is None


@pytest.mark.django_db
def test_each_client_has_its_own_rate_limit(client, police_system, citizen):
    from django.core.cache import cache

    cache.clear()
    system, keys = police_system
    system.rate_limit_per_minute = 2
    system.save()
    codes = [_send(client, keys["live"], recipient={"account_id": str(citizen.public_id)}).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    assert Message.objects.count() == 2


class _Receiver(http.server.BaseHTTPRequestHandler):
    answers: list[int] = []
    got: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.got.append((dict(self.headers), body))
        self.send_response(self.answers.pop(0) if self.answers else 200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver():
    _Receiver.answers, _Receiver.got = [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_delivery_reports_are_posted_signed_and_retried(client, police_system, citizen, receiver, settings):
    settings.MESSAGING_RETRY_SECONDS = 0
    system, keys = police_system
    system.callback_url = f"http://127.0.0.1:{receiver.server_port}/tongban/callback"
    system.save()
    _Receiver.answers = [500]  # the first post fails; the retry gets through
    response = _send(client, keys["live"], recipient={"account_id": str(citizen.public_id)}, reference="BDC-9")
    drain()
    inbox_report = Callback.objects.get(delivery__channel="inbox")
    assert inbox_report.state == "done" and inbox_report.attempts == 2
    headers, body = _Receiver.got[-1]
    payload = json.loads(body)
    assert payload["message_id"] == response.json()["id"] and payload["reference"] == "BDC-9" and payload["status"] == "delivered"
    expected = hmac.new(system.callback_secret.encode(), headers["X-Tongban-Timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-Tongban-Signature"] == expected and headers["X-Tongban-Event"] == payload["id"]


@pytest.mark.django_db
def test_a_callback_that_keeps_failing_ends_failed_and_can_be_re_driven(client, police_system, citizen, receiver, settings, operator):
    settings.MESSAGING_RETRY_SECONDS = 0
    settings.CALLBACK_MAX_ATTEMPTS = 2
    system, keys = police_system
    system.callback_url = f"http://127.0.0.1:{receiver.server_port}/cb"
    system.save()
    _Receiver.answers = [503, 503]
    _send(client, keys["live"], recipient={"account_id": str(citizen.public_id)})
    drain()
    report = Callback.objects.get(delivery__channel="inbox")
    assert report.state == "failed" and report.last_error == "HTTP 503" and report.attempts == 2
    messaging.callback_redrive(actor=operator, callback_id=report.pk, reason="对方系统已恢复")
    drain()
    report.refresh_from_db()
    assert report.state == "done"


@pytest.mark.django_db
def test_sends_inside_a_failed_transaction_leave_no_message_and_no_callback(police_system, citizen):
    system, _ = police_system
    system.callback_url = "http://127.0.0.1:9/never"
    system.save()
    with pytest.raises(RuntimeError), transaction.atomic():
        messaging.message_send(recipient=citizen, template="police-notice", data={"item": "a", "case_code": "B"}, reason="x", client=system)
        raise RuntimeError
    assert not Message.objects.exists() and not Callback.objects.exists()


def _batch(client, key, messages, idem=None):
    headers = _auth(key)
    if idem:
        headers["HTTP_IDEMPOTENCY_KEY"] = idem
    return client.post("/api/v1/messages/batch", data=json.dumps({"messages": messages}), content_type="application/json", **headers)


def _item(recipient, reference="R"):
    return {
        "template": "police-notice",
        "recipient": recipient,
        "data": {"item": "户口迁移", "case_code": "HK-1"},
        "reason": "办结",
        "reference": reference,
    }


@pytest.mark.django_db
def test_a_batch_through_the_api(client, police_system, citizen, other_citizen):
    _, keys = police_system
    items = [_item({"account_id": str(citizen.public_id)}, "A"), _item({"id_number": "360102198803150026"}, "B")]
    response = _batch(client, keys["live"], items, idem="run-7")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (
        body["count"] == 2
        and [i["reference"] for i in body["items"]] == ["A", "B"]
        and {i["status"] for i in body["items"]} == {"delivered"}
    )
    assert Message.objects.get(public_id=body["items"][1]["id"]).recipient == other_citizen
    again = _batch(client, keys["live"], items, idem="run-7")
    assert again.status_code == 200 and again.json()["items"] == body["items"] and Message.objects.count() == 2
    changed = [_item({"account_id": str(citizen.public_id)}, "A"), {**items[1], "data": {"item": "别的事项", "case_code": "HK-1"}}]
    assert _batch(client, keys["live"], changed, idem="run-7").status_code == 409


@pytest.mark.django_db
def test_a_batch_with_an_unknown_recipient_is_refused_whole(client, police_system, citizen):
    _, keys = police_system
    items = [_item({"account_id": str(citizen.public_id)}), _item({"id_number": "110105194912310021"})]
    response = _batch(client, keys["live"], items)
    assert response.status_code == 422 and response.json()["code"] == "batch_refused"
    assert response.json()["details"] == [{"index": 1, "code": "recipient_unknown", "message": "平台上没有这位用户，或其账号已停用。"}]
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_every_message_of_a_batch_counts_against_the_rate_limit(client, police_system, citizen):
    from django.core.cache import cache

    cache.clear()
    system, keys = police_system
    system.rate_limit_per_minute = 5
    system.save()
    assert _batch(client, keys["live"], [_item({"account_id": str(citizen.public_id)})] * 4).status_code == 201
    response = _batch(client, keys["live"], [_item({"account_id": str(citizen.public_id)})] * 2)
    assert response.status_code == 429 and Message.objects.count() == 4


# --- OAuth2 client credentials (the system's OIDC application) ------------------------------------


@pytest.fixture
def police_oauth(police_system):
    """The same department system with an OIDC application (client credentials, scope "messages")
    linked to it; returns (client, keys, application, client secret)."""
    import secrets as random_secrets

    from tongban.identity.models import OidcApplication

    system, keys = police_system
    secret = random_secrets.token_urlsafe(32)
    app = OidcApplication.objects.create(
        name="公安审批系统（客户端凭证）",
        client_type=OidcApplication.CLIENT_CONFIDENTIAL,
        authorization_grant_type=OidcApplication.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
        allowed_scopes="messages openid",
        algorithm=OidcApplication.RS256_ALGORITHM,
    )
    system.application = app
    system.save(update_fields=["application"])
    return system, keys, app, secret


def _oauth_token(client, app, secret, scope="messages") -> str:
    response = client.post(
        "/o/token/",
        {"grant_type": "client_credentials", "scope": scope},
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{app.client_id}:{secret}".encode()).decode(),
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


@pytest.mark.django_db
def test_a_client_credentials_token_of_the_linked_application_works_like_the_live_key(client, police_oauth, citizen):
    system, keys, app, secret = police_oauth
    token = _oauth_token(client, app, secret)
    response = _send(client, token, recipient={"account_id": str(citizen.public_id)}, reference="OAUTH-1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["test"] is False and body["reference"] == "OAUTH-1"
    message = Message.objects.get(public_id=body["id"])
    assert message.client == system and not message.is_test
    assert InboxItem.objects.filter(message=message).exists()
    # The same system's view, whichever credential asks.
    assert client.get(f"/api/v1/messages/{body['id']}", **_auth(keys["live"])).status_code == 200
    listed = client.get("/api/v1/messages", **_auth(token)).json()
    assert [m["id"] for m in listed["items"]] == [body["id"]]
    # Idempotency works across credentials too: it belongs to the system.
    first = _send(client, keys["live"], recipient={"account_id": str(citizen.public_id)}, idem="same-1")
    again = _send(client, token, recipient={"account_id": str(citizen.public_id)}, idem="same-1")
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]


@pytest.mark.django_db
def test_tokens_that_do_not_speak_for_an_active_system_are_refused(client, police_oauth, citizen, mini):
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import AccessToken

    from tongban.identity.models import OidcApplication

    system, _keys, app, secret = police_oauth
    recipient = {"account_id": str(citizen.public_id)}

    def refused(token: str) -> None:
        response = _send(client, token, recipient=recipient)
        assert response.status_code == 401 and response.json()["code"] == "unauthenticated", response.content

    refused("not-a-token")
    refused(_oauth_token(client, app, secret, scope="openid"))  # no "messages" scope
    expired = _oauth_token(client, app, secret)
    AccessToken.objects.filter(token_checksum=hashlib.sha256(expired.encode()).hexdigest()).update(
        expires=timezone.now() - timedelta(seconds=1)
    )
    refused(expired)
    revoked = _oauth_token(client, app, secret)
    AccessToken.objects.get(token_checksum=hashlib.sha256(revoked.encode()).hexdigest()).revoke()
    refused(revoked)
    # An application that is not linked to any department system.
    loose_secret = "loose-" + uuid.uuid4().hex
    loose = OidcApplication.objects.create(
        name="未登记的应用",
        client_type=OidcApplication.CLIENT_CONFIDENTIAL,
        authorization_grant_type=OidcApplication.GRANT_CLIENT_CREDENTIALS,
        client_secret=loose_secret,
        allowed_scopes="messages",
        algorithm=OidcApplication.RS256_ALGORITHM,
    )
    refused(_oauth_token(client, loose, loose_secret))
    # A token issued for a person (not client credentials) never speaks for the system.
    personal = AccessToken.objects.create(
        user=citizen,
        application=app,
        token="personal-token-" + uuid.uuid4().hex,
        scope="messages",
        expires=timezone.now() + timedelta(hours=1),
    )
    assert AccessToken.objects.filter(token_checksum=hashlib.sha256(personal.token.encode()).hexdigest()).exists()
    refused(personal.token)
    # An application no longer allowed the scope (the register disables one by taking them all).
    kept = _oauth_token(client, app, secret)
    OidcApplication.objects.filter(pk=app.pk).update(allowed_scopes="")
    refused(kept)
    OidcApplication.objects.filter(pk=app.pk).update(allowed_scopes="messages openid")
    # A system switched off: its tokens stop at once.
    live = _oauth_token(client, app, secret)
    assert _send(client, live, recipient=recipient).status_code == 201
    system.is_active = False
    system.save(update_fields=["is_active"])
    refused(live)
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_the_rate_limit_counts_the_system_whichever_credential_it_uses(client, police_oauth, citizen):
    from django.core.cache import cache

    cache.clear()
    system, keys, app, secret = police_oauth
    system.rate_limit_per_minute = 2
    system.save()
    token = _oauth_token(client, app, secret)
    recipient = {"account_id": str(citizen.public_id)}
    codes = [
        _send(client, keys["live"], recipient=recipient).status_code,
        _send(client, token, recipient=recipient).status_code,
        _send(client, token, recipient=recipient).status_code,
        _send(client, keys["live"], recipient=recipient).status_code,
    ]
    assert codes == [201, 201, 429, 429]
    assert Message.objects.count() == 2
    cache.clear()
