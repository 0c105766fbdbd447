"""/api/v1/cases for department systems: who sees which case (anonymous, another department's
system, the right system, by API key and by client-credentials token), the change feed's cursor,
steps with the version seen and Idempotency-Key, result documents; webhooks posted signed to a
real HTTP server on loopback, retried, failed and re-driven, swept when lost; and the national
exchange records of a case taken through every kind of ending."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import uuid

import pytest
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from reportlab.pdfgen import canvas

from tests import test_messages_api as messages_tests
from tests.factories import impl_of
from tests.messaging_support import drain
from tongban.cases import clock, exchange, machine, webhooks
from tongban.cases import services as cases
from tongban.cases.materials import material_attach
from tongban.cases.models import Case, CaseDocument, CaseEvent, CaseWebhook, CorrectionNotice
from tongban.common.models import AuditEvent
from tongban.identity import services as identity
from tongban.identity.models import OidcApplication

# The message centre's loopback HTTP receiver (a fixture) and token helper, reused.
receiver = messages_tests.receiver
_Receiver = messages_tests._Receiver
_oauth_token = messages_tests._oauth_token

# --- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture
def implementation(mini, templates):
    return impl_of(mini.birth, mini.police_donghu)


@pytest.fixture
def police_system(mini):
    """东湖区公安局's system (the department handling the cases below)."""
    return identity.api_client_create(actor=None, name="东湖公安审批系统", department=mini.police_donghu)


@pytest.fixture
def county_system(mini):
    """南昌县公安局's system: the same item, another department."""
    return identity.api_client_create(actor=None, name="南昌县公安审批系统", department=mini.police_county)


def _auth(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def _pdf(text: str = "result") -> bytes:
    out = io.BytesIO()
    page = canvas.Canvas(out, invariant=1)  # the same bytes for the same text
    page.drawString(72, 720, text)
    page.save()
    return out.getvalue()


def _submitted(citizen, implementation, *, with_material: bool = False) -> Case:
    draft = cases.case_draft(applicant=citizen, implementation=implementation, form_data={"姓名": "张晓明", "新生儿姓名": "张小宝"})
    if with_material:
        material = implementation.base.materials.get(name="出生医学证明")
        material_attach(actor=citizen, case=draft, material_id=material.pk, upload=ContentFile(_pdf("birth"), name="出生医学证明.pdf"))
    return cases.case_submit(applicant=citizen, case_id=str(draft.public_id))


def _act(client, key, case, action, *, version=None, idem=None, **extra):
    headers = _auth(key)
    if idem:
        headers["HTTP_IDEMPOTENCY_KEY"] = idem
    case.refresh_from_db()
    body = {"action": action, "expected_version": case.version if version is None else version, **extra}
    return client.post(f"/api/v1/cases/{case.code}/actions", data=json.dumps(body), content_type="application/json", **headers)


def _settle() -> None:
    """Let the change feed serve every event written so far (it holds back the last few seconds)."""
    CaseEvent.objects.update(at=timezone.now() - dt.timedelta(seconds=60))


# --- who sees what -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_operation_needs_the_right_system(client, citizen, implementation, police_system, county_system):
    case = _submitted(citizen, implementation, with_material=True)
    _settle()
    _, keys = police_system
    _, other = county_system
    file_id = case.materials.get().file.public_id
    reads = [
        "/api/v1/cases",
        "/api/v1/cases/changes",
        f"/api/v1/cases/{case.code}",
        f"/api/v1/cases/{case.code}/files/{file_id}",
    ]
    for url in reads:
        anonymous = client.get(url)
        assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthenticated", url
        assert client.get(url, **_auth(keys["live"])).status_code == 200, url
    # Another department's system: the case looks like none at all, and its lists are empty.
    for url in reads[2:]:
        response = client.get(url, **_auth(other["live"]))
        assert response.status_code == 404 and response.json()["code"] in ("case_unknown", "file_unknown"), url
    assert client.get("/api/v1/cases", **_auth(other["live"])).json()["items"] == []
    assert client.get("/api/v1/cases/changes", **_auth(other["live"])).json()["items"] == []
    # Writes: anonymous 401, another department 404, and nothing changed.
    assert client.post(f"/api/v1/cases/{case.code}/actions", data="{}", content_type="application/json").status_code == 401
    assert _act(client, other["live"], case, "accept").status_code == 404
    upload = {"title": "决定书", "file": ContentFile(_pdf(), name="决定书.pdf")}
    assert client.post(f"/api/v1/cases/{case.code}/documents", upload).status_code == 401
    upload = {"title": "决定书", "file": ContentFile(_pdf(), name="决定书.pdf")}
    assert client.post(f"/api/v1/cases/{case.code}/documents", upload, **_auth(other["live"])).status_code == 404
    case.refresh_from_db()
    assert case.state == "submitted" and not CaseDocument.objects.filter(kind="result").exists()
    # The right system may act.
    assert _act(client, keys["live"], case, "accept").status_code == 201


@pytest.mark.django_db
def test_a_client_credentials_token_needs_the_cases_scope(client, citizen, implementation, police_system):
    system, _keys = police_system
    secret = "secret-" + uuid.uuid4().hex
    app = OidcApplication.objects.create(
        name="东湖公安审批系统（客户端凭证）",
        client_type=OidcApplication.CLIENT_CONFIDENTIAL,
        authorization_grant_type=OidcApplication.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
        allowed_scopes="messages cases",
        algorithm=OidcApplication.RS256_ALGORITHM,
    )
    system.application = app
    system.save(update_fields=["application"])
    case = _submitted(citizen, implementation)
    token = _oauth_token(client, app, secret, scope="cases")
    assert client.get(f"/api/v1/cases/{case.code}", **_auth(token)).status_code == 200
    assert _act(client, token, case, "accept").status_code == 201
    messages_only = _oauth_token(client, app, secret, scope="messages")
    response = client.get(f"/api/v1/cases/{case.code}", **_auth(messages_only))
    assert response.status_code == 401 and response.json()["code"] == "unauthenticated"
    # An application no longer allowed the scope: its tokens stop working at once.
    app.allowed_scopes = "messages"
    app.save()
    assert client.get(f"/api/v1/cases/{case.code}", **_auth(token)).status_code == 401


@pytest.mark.django_db
def test_test_keys_read_but_never_write(client, citizen, implementation, police_system):
    _, keys = police_system
    case = _submitted(citizen, implementation)
    assert client.get(f"/api/v1/cases/{case.code}", **_auth(keys["test"])).status_code == 200
    response = _act(client, keys["test"], case, "accept")
    assert response.status_code == 403 and response.json()["code"] == "test_key_read_only"
    case.refresh_from_db()
    assert case.state == "submitted"


# --- lists and the change feed -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_list_holds_the_departments_submitted_cases_newest_first(client, citizen, implementation, police_system, mini):
    _, keys = police_system
    made = [_submitted(citizen, implementation) for _ in range(3)]
    cases.case_draft(applicant=citizen, implementation=implementation)  # a draft is the applicant's own
    elsewhere = _submitted(citizen, impl_of(mini.birth, mini.police_county))
    cases.case_act(actor=None, case_id=str(made[0].public_id), action="accept", expected_version=made[0].version)
    first = client.get("/api/v1/cases?limit=2", **_auth(keys["live"])).json()
    assert [c["code"] for c in first["items"]] == [made[2].code, made[1].code]
    second = client.get(f"/api/v1/cases?limit=2&cursor={first['next_cursor']}", **_auth(keys["live"])).json()
    assert [c["code"] for c in second["items"]] == [made[0].code] and second["next_cursor"] is None
    assert elsewhere.code not in {c["code"] for c in first["items"] + second["items"]}
    accepted = client.get("/api/v1/cases?state=accepted", **_auth(keys["live"])).json()["items"]
    assert [(c["code"], c["state"], c["version"]) for c in accepted] == [(made[0].code, "accepted", 3)]
    for bad in ("draft", "nonsense"):
        response = client.get(f"/api/v1/cases?state={bad}", **_auth(keys["live"]))
        assert response.status_code == 422 and response.json()["code"] == "state_unknown"
    response = client.get("/api/v1/cases?cursor=%%%", **_auth(keys["live"]))
    assert response.status_code == 400 and response.json()["code"] == "invalid_cursor"


@pytest.mark.django_db
def test_the_change_feed_serves_each_settled_event_once_in_order(client, citizen, implementation, police_system, mini):
    _, keys = police_system
    one = _submitted(citizen, implementation)
    two = _submitted(citizen, implementation)
    _submitted(citizen, impl_of(mini.birth, mini.police_county))  # another department's
    # Just written: held back until it has surely committed everywhere.
    fresh = client.get("/api/v1/cases/changes", **_auth(keys["live"])).json()
    assert fresh["items"] == [] and fresh["more"] is False
    _settle()
    page = client.get("/api/v1/cases/changes?limit=1", **_auth(keys["live"])).json()
    assert [(i["case_code"], i["action"], i["to_state"]) for i in page["items"]] == [(one.code, "submit", "submitted")]
    assert page["more"] is True
    page = client.get(f"/api/v1/cases/changes?after={page['next_cursor']}", **_auth(keys["live"])).json()
    assert [(i["case_code"], i["action"]) for i in page["items"]] == [(two.code, "submit")] and page["more"] is False
    kept = page["next_cursor"]
    # Nothing new: the same position comes back.
    assert client.get(f"/api/v1/cases/changes?after={kept}", **_auth(keys["live"])).json() == {
        "items": [],
        "next_cursor": kept,
        "more": False,
    }
    cases.case_act(actor=None, case_id=str(one.public_id), action="accept", expected_version=one.version)
    one.refresh_from_db()
    cases.case_act(
        actor=None, case_id=str(one.public_id), action="suspend", expected_version=one.version, opinion="组织听证", special_step=2
    )
    _settle()
    items = client.get(f"/api/v1/cases/changes?after={kept}", **_auth(keys["live"])).json()["items"]
    assert [(i["action"], i["step_result"], i["special_step"]) for i in items] == [("accept", 4, None), ("suspend", 6, 2)]
    assert items[0]["sequence"] < items[1]["sequence"]
    kept = client.get(f"/api/v1/cases/changes?after={kept}", **_auth(keys["live"])).json()["next_cursor"]
    # Two steps whose stamps and numbers disagree (stamped in one order, numbered in the other): the
    # later-numbered one waits until the earlier-numbered one has settled too, so neither is lost.
    one.refresh_from_db()
    cases.case_act(actor=None, case_id=str(one.public_id), action="resume", expected_version=one.version)
    cases.case_act(actor=None, case_id=str(one.public_id), action="approve", expected_version=one.version + 1)
    resumed, approved = CaseEvent.objects.filter(case=one, action__in=["resume", "approve"]).order_by("id")
    CaseEvent.objects.filter(pk=approved.pk).update(at=timezone.now() - dt.timedelta(seconds=60))
    held = client.get(f"/api/v1/cases/changes?after={kept}", **_auth(keys["live"])).json()
    assert held == {"items": [], "next_cursor": kept, "more": False}
    CaseEvent.objects.filter(pk=resumed.pk).update(at=timezone.now() - dt.timedelta(seconds=61))
    items = client.get(f"/api/v1/cases/changes?after={kept}", **_auth(keys["live"])).json()["items"]
    assert [i["action"] for i in items] == ["resume", "approve"]


# --- detail and files ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_detail_has_form_materials_with_files_and_the_timeline(client, citizen, implementation, police_system):
    _, keys = police_system
    case = _submitted(citizen, implementation, with_material=True)
    cases.case_act(actor=None, case_id=str(case.public_id), action="accept", expected_version=case.version)
    body = client.get(f"/api/v1/cases/{case.code}", **_auth(keys["live"])).json()
    assert body["form_data"] == {"姓名": "张晓明", "新生儿姓名": "张小宝"}
    assert body["applicant"] == {"name": "张晓明", "id_number_masked": "110105********002X"}
    assert body["state"] == "accepted" and body["state_name"] == "已受理" and body["version"] == 3
    [material] = body["materials"]
    assert (material["name"], material["source"], material["source_name"]) == ("出生医学证明", "upload", "本次上传")
    assert material["file"]["content_type"] == "application/pdf"
    assert [(e["action"], e["step_result"]) for e in body["events"]] == [("submit", None), ("accept", {"code": 4, "name": "受理"})]
    assert "approve" in body["allowed_actions"] and "resubmit" not in body["allowed_actions"]
    download = client.get(material["file"]["url"], **_auth(keys["live"]))
    assert download.status_code == 200 and b"".join(download.streaming_content).startswith(b"%PDF")
    assert hashlib.sha256(_pdf("birth")).hexdigest() == material["file"]["sha256"]
    # A file of another case of the same department is not reachable through this case.
    other = _submitted(citizen, implementation)
    wrong = client.get(f"/api/v1/cases/{other.code}/files/{material['file']['id']}", **_auth(keys["live"]))
    assert wrong.status_code == 404 and wrong.json()["code"] == "file_unknown"
    assert client.get(f"/api/v1/cases/{case.code}/files/not-a-uuid", **_auth(keys["live"])).status_code == 404
    assert client.get("/api/v1/cases/360000000000000000000000000000000000000000", **_auth(keys["live"])).status_code == 404


# --- steps ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_step_runs_as_the_departments_system_with_the_version_seen(client, citizen, implementation, police_system):
    system, keys = police_system
    case = _submitted(citizen, implementation)
    stale = case.version
    response = _act(client, keys["live"], case, "accept", opinion="材料齐全")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["case"]["state"] == "accepted" and body["case"]["version"] == stale + 1
    assert body["event"]["step_result"] == {"code": 4, "name": "受理"} and body["event"]["actor_kind"] == "clerk"
    event = CaseEvent.objects.get(case=case, action="accept")
    assert event.actor is None and event.department == case.department and event.opinion == "材料齐全"
    trail = AuditEvent.objects.get(action="case.api_action")
    assert trail.after["client"] == str(system.public_id) and trail.after["event"] == event.pk and trail.object_id == str(case.public_id)
    # Two systems at once: the second, with the version it saw, gets a clear conflict.
    response = _act(client, keys["live"], case, "suspend", version=stale, opinion="听证", special_step=2)
    assert response.status_code == 409 and response.json() == {"code": "case_changed", "message": response.json()["message"]}
    # A step this state does not allow, and an applicant's step, are conflicts too.
    response = _act(client, keys["live"], case, "conclude")
    assert response.status_code == 409 and response.json()["code"] == "case_transition"
    assert _act(client, keys["live"], case, "supplemented").status_code == 409
    # Steps that need a reason say so; special procedures name their kind.
    response = _act(client, keys["live"], case, "deny")
    assert response.status_code == 422 and response.json()["code"] == "opinion_required"
    response = _act(client, keys["live"], case, "suspend", opinion="专家评审", special_step=6)
    assert response.status_code == 422 and response.json()["code"] == "special_step_invalid"
    response = _act(client, keys["live"], case, "suspend", opinion="组织听证", special_step=2)
    assert response.status_code == 201 and response.json()["event"]["special_step"] == {"code": 2, "name": "听证"}
    response = _act(client, keys["live"], case, "fly")
    assert response.status_code == 409 and response.json()["code"] == "case_transition"


@pytest.mark.django_db
def test_a_repeated_step_with_its_idempotency_key_takes_effect_once(client, citizen, implementation, police_system):
    _, keys = police_system
    case = _submitted(citizen, implementation)
    version = case.version
    first = _act(client, keys["live"], case, "accept", version=version, idem="step-1")
    again = _act(client, keys["live"], case, "accept", version=version, idem="step-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["event"] == again.json()["event"]
    assert CaseEvent.objects.filter(case=case, action="accept").count() == 1
    response = _act(client, keys["live"], case, "suspend", version=version + 1, idem="step-1", opinion="听证")
    assert response.status_code == 409 and response.json()["code"] == "idempotency_key_reused"
    response = _act(client, keys["live"], case, "approve", idem="k" * 101)
    assert response.status_code == 422 and response.json()["code"] == "idempotency_key_too_long"


@pytest.mark.django_db
def test_the_correction_notice_lists_every_problem_once(client, citizen, implementation, police_system):
    _, keys = police_system
    case = _submitted(citizen, implementation)
    response = _act(client, keys["live"], case, "request_correction")
    assert response.status_code == 422 and response.json()["code"] == "problems_required"
    problems = [{"material": "出生医学证明", "reason": "照片不清晰"}, {"material": "父母双方居民户口簿", "reason": "缺少户主页"}]
    response = _act(client, keys["live"], case, "request_correction", problems=problems)
    assert response.status_code == 201 and response.json()["case"]["state"] == "correcting"
    notice = CorrectionNotice.objects.get(case=case)
    assert [p["material"] for p in notice.problems] == ["出生医学证明", "父母双方居民户口簿"]
    assert response.json()["event"]["special_step"] == {"code": 6, "name": "预审补正"}
    response = _act(client, keys["live"], case, "refuse", opinion="x", problems=problems)
    assert response.status_code == 422 and response.json()["code"] == "problems_unexpected"


# --- result documents ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_result_documents_after_the_decision(client, citizen, implementation, police_system):
    system, keys = police_system
    case = _submitted(citizen, implementation)
    url = f"/api/v1/cases/{case.code}/documents"

    def upload(content: bytes, name: str, idem: str | None = None, key: str = keys["live"]):
        headers = _auth(key)
        if idem:
            headers["HTTP_IDEMPOTENCY_KEY"] = idem
        return client.post(url, {"title": "准予行政许可决定书", "file": ContentFile(content, name=name)}, **headers)

    response = upload(_pdf(), "决定书.pdf")
    assert response.status_code == 409 and response.json()["code"] == "case_not_decided"
    assert _act(client, keys["live"], case, "accept").status_code == 201
    assert _act(client, keys["live"], case, "approve").status_code == 201
    assert upload(_pdf(), "决定书.pdf", key=keys["test"]).status_code == 403
    response = upload(b"MZ\x90\x00 not a pdf at all", "决定书.pdf")
    assert response.status_code == 422 and response.json()["code"] == "file_type"
    first = upload(_pdf("decision"), "决定书.pdf", idem="doc-1")
    again = upload(_pdf("decision"), "决定书.pdf", idem="doc-1")
    assert (first.status_code, again.status_code) == (201, 200), first.content
    assert first.json()["id"] == again.json()["id"] and first.json()["kind"] == "result"
    document = CaseDocument.objects.get(kind="result")
    assert document.client == system and document.file.owner == citizen and document.title == "准予行政许可决定书"
    detail = client.get(f"/api/v1/cases/{case.code}", **_auth(keys["live"])).json()
    assert [d["title"] for d in detail["documents"] if d["kind"] == "result"] == ["准予行政许可决定书"]
    download = client.get(first.json()["file"]["url"], **_auth(keys["live"]))
    assert download.status_code == 200 and b"".join(download.streaming_content) == _pdf("decision")


# --- webhooks ------------------------------------------------------------------------------------------


def _hooked(system, receiver_server, path="/hooks/cases"):
    system.callback_url = f"http://127.0.0.1:{receiver_server.server_port}{path}"
    system.save()
    return system


@pytest.mark.django_db
def test_new_and_changed_cases_are_posted_signed_to_the_departments_systems(
    client, citizen, implementation, police_system, county_system, receiver, settings, mini
):
    settings.MESSAGING_RETRY_SECONDS = 0
    system = _hooked(police_system[0], receiver)
    _hooked(county_system[0], receiver, "/county")  # another department: told nothing of these cases
    quiet, _ = identity.api_client_create(actor=None, name="东湖公安档案系统", department=mini.police_donghu)  # no callback URL
    retired, _ = identity.api_client_create(
        actor=None, name="东湖旧系统", department=mini.police_donghu, callback_url="http://127.0.0.1:9/x"
    )
    retired.is_active = False
    retired.save()
    _Receiver.answers = [500]  # the first post fails; the retry gets through
    case = _submitted(citizen, implementation)
    cases.case_act(actor=None, case_id=str(case.public_id), action="accept", expected_version=case.version)
    drain(["callbacks"])
    assert set(CaseWebhook.objects.values_list("client", flat=True)) == {system.pk}
    created, changed = CaseWebhook.objects.order_by("id")
    assert (created.event, created.state, created.attempts) == ("case.created", "done", 2)
    assert (changed.event, changed.state, changed.attempts) == ("case.changed", "done", 1)
    bodies = [json.loads(body) for _, body in _Receiver.got]
    assert sorted(b["type"] for b in bodies) == ["case.changed", "case.created", "case.created"]
    # The retry repeats the same event id, so the receiver can drop a repeat.
    assert [b["event_id"] for b in bodies if b["type"] == "case.created"] == [str(created.event_id)] * 2
    [last] = [b for b in bodies if b["type"] == "case.changed"]
    assert last["case"] == {"code": case.code, "state": "accepted", "version": 3}
    assert (last["action"], last["step_result"], last["conclusion"]) == ("accept", 4, None)
    for headers, body in _Receiver.got:
        expected = hmac.new(system.callback_secret.encode(), headers["X-Tongban-Timestamp"].encode() + b"." + body, hashlib.sha256)
        assert headers["X-Tongban-Signature"] == expected.hexdigest()
        assert headers["X-Tongban-Event"] == json.loads(body)["event_id"] and headers["X-Tongban-Event-Type"] == json.loads(body)["type"]
    # A delivered webhook is never posted again, whatever task runs for it.
    count = len(_Receiver.got)
    assert webhooks.webhook_deliver(created.pk) == "done"
    assert len(_Receiver.got) == count
    assert quiet.case_webhooks.count() == 0 and retired.case_webhooks.count() == 0


@pytest.mark.django_db
def test_a_webhook_that_keeps_failing_ends_failed_and_can_be_re_driven(
    citizen, implementation, police_system, receiver, settings, operator
):
    settings.MESSAGING_RETRY_SECONDS = 0
    settings.CASE_WEBHOOK_MAX_ATTEMPTS = 2
    _hooked(police_system[0], receiver)
    _Receiver.answers = [503, 503]
    _submitted(citizen, implementation)
    drain(["callbacks"])
    webhook = CaseWebhook.objects.get()
    assert (webhook.state, webhook.attempts, webhook.last_error) == ("failed", 2, "HTTP 503")
    assert AuditEvent.objects.filter(action="case_webhook.failed").exists()
    webhooks.webhook_redrive(actor=operator, webhook_id=webhook.pk, reason="对方系统已恢复")
    drain(["callbacks"])
    webhook.refresh_from_db()
    assert webhook.state == "done" and webhook.attempts == 1
    assert len({json.loads(body)["event_id"] for _, body in _Receiver.got}) == 1


@pytest.mark.django_db
def test_the_sweep_queues_again_only_webhooks_whose_task_was_lost(citizen, implementation, police_system, receiver):
    _hooked(police_system[0], receiver)
    lost = _submitted(citizen, implementation)
    waiting = _submitted(citizen, implementation)
    lost_hook = CaseWebhook.objects.get(case=lost)
    waiting_hook = CaseWebhook.objects.get(case=waiting)
    DBTaskResult.objects.filter(id=lost_hook.task_id).delete()  # its worker died with it
    CaseWebhook.objects.update(next_attempt_at=timezone.now() - dt.timedelta(minutes=10))
    assert webhooks.webhooks_sweep() == {"requeued": 1}
    waiting_hook.refresh_from_db()
    lost_hook.refresh_from_db()
    assert DBTaskResult.objects.filter(id=lost_hook.task_id).exists()
    drain(["callbacks"])
    assert set(CaseWebhook.objects.values_list("state", flat=True)) == {"done"}
    assert webhooks.webhooks_sweep() == {"requeued": 0}


@pytest.mark.django_db
def test_a_step_that_rolls_back_owes_no_webhook(citizen, implementation, police_system):
    system, _ = police_system
    system.callback_url = "http://127.0.0.1:9/never"
    system.save()
    case = _submitted(citizen, implementation)
    queued = DBTaskResult.objects.filter(task_path__endswith="case_webhook_post").count()
    assert CaseWebhook.objects.count() == 1 and queued == 1
    with pytest.raises(RuntimeError), transaction.atomic():
        cases.case_act(actor=None, case_id=str(case.public_id), action="accept", expected_version=case.version)
        raise RuntimeError
    assert CaseWebhook.objects.count() == 1
    assert DBTaskResult.objects.filter(task_path__endswith="case_webhook_post").count() == 1


# --- national exchange records -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_case_through_suspension_and_approval_yields_complete_records(client, citizen, implementation, police_system):
    system, keys = police_system
    case = _submitted(citizen, implementation, with_material=True)
    assert exchange.accept_record(case) is None and exchange.result_record(case) is None
    assert _act(client, keys["live"], case, "accept", opinion="材料齐全，予以受理").status_code == 201
    assert _act(client, keys["live"], case, "suspend", opinion="组织听证", special_step=2).status_code == 201
    # The hearing took a week: the suspend step happened seven days before the resumption.
    suspended = CaseEvent.objects.get(case=case, action="suspend")
    CaseEvent.objects.filter(pk=suspended.pk).update(at=suspended.at - dt.timedelta(days=7))
    assert _act(client, keys["live"], case, "resume", opinion="听证结束").status_code == 201
    assert _act(client, keys["live"], case, "approve").status_code == 201
    content = {"title": "准予行政许可决定书", "file": ContentFile(_pdf(), name="决定书.pdf")}
    assert client.post(f"/api/v1/cases/{case.code}/documents", content, **_auth(keys["live"])).status_code == 201
    assert exchange.result_record(Case.objects.get(pk=case.pk)) is None  # decided, not yet concluded
    assert _act(client, keys["live"], case, "conclude").status_code == 201
    assert _act(client, keys["live"], case, "deliver").status_code == 201
    case.refresh_from_db()
    records = exchange.exchange_records(case)

    accept = records["accept"]
    assert accept["case_code"] == case.code and accept["item_code"] == "070100001000"
    assert accept["implementation_code"] == implementation.code and accept["department_code"] == case.department.credit_code
    assert (accept["step_result"], accept["step_result_name"], accept["deemed"]) == (4, "受理", False)
    assert accept["applicant_name"] == "张晓明" and accept["applicant_id_type"] == "111"
    assert accept["applicant_id_number"] == "11010519491231002X" and accept["channel"] == 1
    assert accept["handler"] == system.name and accept["opinion"] == "材料齐全，予以受理"
    assert accept["legal_limit_days"] == implementation.legal_limit and accept["due_legal"] == case.due_legal.isoformat()

    process = records["process"]
    assert [p["step_code"] for p in process] == ["accept", "suspend", "resume", "approve", "conclude", "deliver"]
    assert [p["sequence"] for p in process] == list(range(1, 7))
    assert [p["step_result"] for p in process] == [4, 6, 1, 1, None, None]
    for record in process:
        assert record["handler"] == system.name and record["department_name"] == case.department.name and record["handled_at"]
    assert process[1]["special_step"] == 2 and process[1]["opinion"] == "组织听证"

    [special] = records["special"]
    resumed = CaseEvent.objects.get(case=case, action="resume")
    assert (special["kind"], special["kind_name"], special["reason"], special["result"]) == (2, "听证", "组织听证", "听证结束")
    assert special["clock_stops"] is True and special["started_at"] < special["ended_at"]
    assert special["days"] == clock.suspended_days(timezone.localdate(suspended.at - dt.timedelta(days=7)), timezone.localdate(resumed.at))
    assert special["days"] >= 3

    result = records["result"]
    assert (result["conclusion"], result["conclusion_name"]) == (0, "出证办结（准予）")
    assert result["result_documents"] == ["准予行政许可决定书"] and result["delivered_at"] is not None
    assert result["concluded_at"] >= result["decided_at"]

    assert records["materials"] == [
        {
            "case_code": case.code,
            "name": "出生医学证明",
            "source": "upload",
            "source_name": "本次上传",
            "licence_type": "",
            "count": 1,
        }
    ]


def _through(case: Case, steps: list[tuple[str, str, str]]) -> Case:
    for action, kind, opinion in steps:
        case.refresh_from_db()
        cases.case_act(
            actor=None, case_id=str(case.public_id), action=action, expected_version=case.version, opinion=opinion, actor_kind=kind
        )
    case.refresh_from_db()
    return case


ENDINGS = {
    "approve": [("accept", "clerk", ""), ("approve", "clerk", ""), ("conclude", "clerk", "")],
    "deny": [("accept", "clerk", ""), ("deny", "clerk", "不符合法定条件"), ("conclude", "clerk", "")],
    "refuse": [("refuse", "clerk", "不属于本部门职权范围")],
    "withdraw": [("accept", "clerk", ""), ("withdraw", "applicant", "")],
    "return_uncorrected": [
        ("accept", "clerk", ""),
        ("ask_supplement", "clerk", "补充出生医学证明原件"),
        ("return_uncorrected", "clerk", "逾期未补齐补正"),
    ],
}


@pytest.mark.django_db
@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_every_ending_has_its_conclusion_code_and_a_reason_where_required(citizen, implementation, ending):
    case = _through(_submitted(citizen, implementation), ENDINGS[ending])
    result = exchange.result_record(case)
    assert result is not None and result["conclusion"] == machine.TRANSITIONS[ending].conclusion
    assert result["conclusion_name"] == machine.CONCLUSIONS[result["conclusion"]]
    if result["conclusion"] in machine.CONCLUSION_NEEDS_REASON:
        assert result["reason"].strip(), ending
    assert result["concluded_at"] and result["department_code"] == case.department.credit_code
    records = exchange.exchange_records(case)
    if ending == "refuse":
        assert (records["accept"]["step_result"], records["accept"]["opinion"]) == (3, "不属于本部门职权范围")
    if ending == "return_uncorrected":
        [special] = records["special"]
        assert (special["kind"], special["end_step"], special["clock_stops"]) == (1, "return_uncorrected", False)


def test_the_endings_cover_every_conclusion_the_state_machine_records():
    assert set(ENDINGS) == {action for action, t in machine.TRANSITIONS.items() if t.conclusion is not None}


@pytest.mark.django_db
def test_pre_review_correction_and_deemed_acceptance_are_recorded(citizen, implementation):
    case = _submitted(citizen, implementation)
    cases.correction_notice(
        actor=None, case_id=str(case.public_id), expected_version=case.version, problems=[{"material": "出生医学证明", "reason": "模糊"}]
    )  # type: ignore[arg-type]
    case = _through(case, [("resubmit", "applicant", "")])
    cases.case_act(actor=None, case_id=str(case.public_id), action="deem_accepted", expected_version=case.version, actor_kind="system")
    case.refresh_from_db()
    records = exchange.exchange_records(case)
    [special] = records["special"]
    assert (special["kind"], special["kind_name"], special["end_step"], special["reason"]) == (
        6,
        "预审补正",
        "resubmit",
        "出生医学证明：模糊",
    )
    assert records["accept"]["deemed"] is True and records["accept"]["handler"] == "平台自动处理"
    assert [p["handler_kind"] for p in records["process"]] == ["clerk", "applicant", "system"]
    assert records["result"] is None


# --- the console: failed webhooks and their re-drive ---------------------------------------------------


@pytest.mark.django_db
def test_operators_see_failed_webhooks_and_re_drive_them(citizen, implementation, police_system, receiver, settings, operator, clerk):
    from django.test import Client

    from tests.conftest import STAFF_PASSWORD
    from tests.staff_support import console_sign_in

    settings.MESSAGING_RETRY_SECONDS = 0
    settings.CASE_WEBHOOK_MAX_ATTEMPTS = 1
    system = _hooked(police_system[0], receiver)
    _Receiver.answers = [503]
    case = _submitted(citizen, implementation)
    drain(["callbacks"])
    webhook = CaseWebhook.objects.get()
    assert webhook.state == "failed"
    page, redrive = "/console/cases/webhooks", f"/console/cases/webhooks/{webhook.pk}/redrive"
    anonymous = Client()
    for response in (anonymous.get(page), anonymous.post(redrive, {"reason": "x"})):
        assert response.status_code == 302 and response["Location"].startswith("/console/login")
    desk = Client()
    assert console_sign_in(desk, clerk, STAFF_PASSWORD).status_code == 302
    assert desk.get(page).status_code == 403 and desk.post(redrive, {"reason": "x"}).status_code == 403
    console = Client()
    assert console_sign_in(console, operator, STAFF_PASSWORD).status_code == 302
    listed = console.get(page)
    assert listed.status_code == 200
    text = listed.content.decode()
    assert case.code in text and system.name in text and "HTTP 503" in text
    missing = console.post(redrive, {"reason": ""})
    assert missing.status_code == 422 and "请填写原因" in missing.content.decode()
    webhook.refresh_from_db()
    assert webhook.state == "failed"
    done = console.post(redrive, {"reason": "对方系统已恢复"})
    assert done.status_code == 302 and done["Location"] == page
    drain(["callbacks"])
    webhook.refresh_from_db()
    assert webhook.state == "done"
    assert AuditEvent.objects.get(action="case_webhook.redrive").reason == "对方系统已恢复"
    again = console.post(redrive, {"reason": "再来一次"})
    assert again.status_code == 409 and "只有推送失败" in again.content.decode()
    assert "没有推送失败的办件事件" in console.get(page).content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("scope", ["messages", "cases"])
def test_system_scopes_are_refused_to_applications_people_sign_in_to(scope):
    from tongban.common.errors import ValidationFailed
    from tongban.identity import applications

    data = applications.AppData(
        name=f"个人应用-{scope}",
        redirect_uris=["https://app.example.cn/cb"],
        post_logout_redirect_uris=[],
        backchannel_logout_uri="",
        scopes=["openid", scope],
    )
    with pytest.raises(ValidationFailed) as caught:
        applications.application_create(actor=None, data=data)
    assert caught.value.code == "system_scope"
