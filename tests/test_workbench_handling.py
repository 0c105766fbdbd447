"""The staff workbench's handling of a case: claim, release and reassign (one of two clerks at once
wins), who may act on a claimed case, the written receipts as PDF, suspension with its special
procedure, conclusion and delivery, one-window intake for an in-person applicant, and the lights
and supervision list for pre-review and each step's own limit."""

from __future__ import annotations

import datetime as dt
import io
import re
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from pypdf import PdfReader

from tests.conftest import STAFF_PASSWORD, staff_ready
from tests.factories import impl_of
from tests.test_enterprises import signed_in_client
from tongban.cases import assign, forms, intake, machine
from tongban.cases import services as cases
from tongban.cases.models import Case, CaseDocument, CaseEvent, CaseMaterial
from tongban.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tongban.common.models import AuditEvent
from tongban.identity import services as identity
from tongban.identity import staff as staff_service
from tongban.identity.models import Account, StaffRole
from tongban.identity.services import account_find_by_id_number

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _staff(username: str, department, *, role: str | None = None, name: str = "") -> Account:
    account = staff_ready(
        identity.staff_account_upsert(
            actor=None, username=username, password=STAFF_PASSWORD, display_name=name or username, kind="staff", department=department
        )
    )
    if role:
        staff_service.system_role_grant(account=account, role=role, department=department)
    return account


def _desk(account) -> Client:
    client = Client()
    client.force_login(account)
    return client


@pytest.fixture
def implementation(mini, templates):
    impl = impl_of(mini.birth, mini.police_donghu)
    impl.legal_limit, impl.promised_limit = 5, 3
    impl.save()
    return impl


@pytest.fixture
def colleague(mini):
    """A second window clerk of 东湖区公安局."""
    return _staff("donghu-police-2", mini.police_donghu, name="东湖民警乙")


@pytest.fixture
def admin(mini):
    """The department administrator of 东湖区公安局."""
    return _staff("donghu-admin", mini.police_donghu, role=StaffRole.Role.DEPT_ADMIN, name="东湖管理员")


def _submitted(citizen, implementation) -> Case:
    draft = cases.case_draft(applicant=citizen, implementation=implementation, form_data={"姓名": "张晓明"})
    return cases.case_submit(applicant=citizen, case_id=str(draft.public_id))


def _url(case: Case, tail: str = "") -> str:
    return f"/workbench/cases/{case.public_id}/{tail}"


def _fresh(case: Case) -> Case:
    return Case.objects.get(pk=case.pk)


# --- claim, release, reassign ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_clerk_claims_and_the_other_is_told_who_was_first(citizen, implementation, clerk, colleague):
    case = _submitted(citizen, implementation)
    claimed = assign.case_claim(actor=clerk, case_id=str(case.public_id))
    assert claimed.assignee_id == clerk.pk and claimed.claimed_at is not None
    assert _fresh(case).version == case.version  # a claim is not a step: open pages stay valid
    assign.case_claim(actor=clerk, case_id=str(case.public_id))  # again: nothing changes
    with pytest.raises(Conflict) as caught:
        assign.case_claim(actor=colleague, case_id=str(case.public_id))
    assert caught.value.code == "case_claimed" and caught.value.message == "该办件已被东湖民警认领。"
    assert AuditEvent.objects.filter(action="case.claim", object_id=str(case.public_id)).count() == 1
    # The colleague may look but not act; the assignee acts.
    with pytest.raises(PermissionDenied) as caught:
        assign.case_handle(actor=colleague, case_id=str(case.public_id), action="accept", expected_version=case.version)
    assert "已被东湖民警认领" in caught.value.message
    assert _fresh(case).state == "submitted"
    done = assign.case_handle(actor=clerk, case_id=str(case.public_id), action="accept", expected_version=case.version)
    assert done.state == "accepted" and _fresh(case).assignee_id == clerk.pk
    # Released, it is anyone's again.
    with pytest.raises(PermissionDenied):
        assign.case_release(actor=colleague, case_id=str(case.public_id))
    assign.case_release(actor=clerk, case_id=str(case.public_id))
    assert _fresh(case).assignee_id is None
    assign.case_claim(actor=colleague, case_id=str(case.public_id))
    assert _fresh(case).assignee_id == colleague.pk


@pytest.mark.django_db
def test_only_an_administrator_reassigns_and_only_within_the_department(citizen, implementation, clerk, colleague, admin, stranger):
    case = _submitted(citizen, implementation)
    assign.case_claim(actor=clerk, case_id=str(case.public_id))
    with pytest.raises(PermissionDenied):
        assign.case_reassign(actor=clerk, case_id=str(case.public_id), to_account_id=str(colleague.public_id))
    with pytest.raises(NotFound):  # another department's case looks like none
        assign.case_reassign(actor=stranger, case_id=str(case.public_id), to_account_id=str(stranger.public_id))
    with pytest.raises(ValidationFailed) as caught:
        assign.case_reassign(actor=admin, case_id=str(case.public_id), to_account_id=str(stranger.public_id))
    assert caught.value.code == "reassign_target"
    with pytest.raises(ValidationFailed):
        assign.case_reassign(actor=admin, case_id=str(case.public_id), to_account_id="not-a-uuid")
    assert _fresh(case).assignee_id == clerk.pk
    assign.case_reassign(actor=admin, case_id=str(case.public_id), to_account_id=str(colleague.public_id), reason="休假")
    assert _fresh(case).assignee_id == colleague.pk
    audit = AuditEvent.objects.get(action="case.reassign", object_id=str(case.public_id))
    assert audit.before == {"assignee": "东湖民警"} and audit.after == {"assignee": "东湖民警乙"} and audit.reason == "休假"
    # The administrator may act on a case someone else claimed.
    assert assign.case_handle(actor=admin, case_id=str(case.public_id), action="accept", expected_version=case.version).state == "accepted"
    assert {a.pk for a in assign.assignable_staff(case)} == {clerk.pk, colleague.pk, admin.pk}


@pytest.mark.django_db
def test_an_auditor_reads_but_never_claims_or_acts(mini, citizen, implementation):
    auditor = identity.staff_account_upsert(
        actor=None, username="auditor", password=STAFF_PASSWORD, display_name="审计", kind="staff", department=mini.police_donghu
    )
    staff_service.system_role_grant(account=auditor, role=StaffRole.Role.AUDITOR, department=mini.police_donghu)
    case = _submitted(citizen, implementation)
    with pytest.raises(PermissionDenied):
        assign.case_claim(actor=auditor, case_id=str(case.public_id))
    with pytest.raises(PermissionDenied):
        assign.case_handle(actor=auditor, case_id=str(case.public_id), action="accept", expected_version=case.version)


@pytest.mark.django_db
def test_the_queue_filters_mine_unclaimed_and_division(citizen, implementation, clerk, colleague, operator, mini):
    mine = _submitted(citizen, implementation)
    theirs = _submitted(citizen, implementation)
    free = _submitted(citizen, implementation)
    county = _submitted(citizen, impl_of(mini.birth, mini.police_county))
    assign.case_claim(actor=clerk, case_id=str(mine.public_id))
    assign.case_claim(actor=colleague, case_id=str(theirs.public_id))
    desk = _desk(clerk)
    page = desk.get("/workbench/").content.decode()
    assert all(c.code in page for c in (mine, theirs, free)) and county.code not in page
    assert "东湖民警乙" in page and "未认领" in page
    page = desk.get("/workbench/?who=mine").content.decode()
    assert mine.code in page and theirs.code not in page and free.code not in page
    page = desk.get("/workbench/?who=unclaimed&state=pre_review").content.decode()
    assert free.code in page and mine.code not in page and theirs.code not in page
    assert 'href="?state=all&amp;who=unclaimed"' in page  # the state tabs keep the who-filter
    board = _desk(operator)
    page = board.get(f"/workbench/?division={mini.nanchang_county.code}").content.decode()
    assert county.code in page and mine.code not in page
    page = board.get("/workbench/?division=999999").content.decode()  # unknown: ignored
    assert county.code in page and mine.code in page


def _race(work, count: int = 2) -> tuple[list[object], list[BaseException]]:
    """Run ``work(i)`` in ``count`` threads started together; results and errors."""
    barrier = threading.Barrier(count)
    results: list[object] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            for _ in range(50):  # SQLite answers "database is locked" to a writer that waits too long
                try:
                    results.append(work(i))
                    break
                except Exception as exc:
                    if "locked" not in str(exc):
                        raise
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_two_clerks_claiming_at_once_one_wins(citizen, implementation, clerk, colleague):
    case = _submitted(citizen, implementation)
    clerks = [clerk, colleague]
    results, errors = _race(lambda i: assign.case_claim(actor=clerks[i], case_id=str(case.public_id)))
    assert len(results) == 1 and len(errors) == 1
    assert isinstance(errors[0], Conflict) and errors[0].code == "case_claimed"
    winner = _fresh(case).assignee_id
    loser = next(c for c in clerks if c.pk != winner)
    assert errors[0].message == f"该办件已被{Account.objects.get(pk=winner).display_name}认领。" and loser.pk != winner
    assert AuditEvent.objects.filter(action="case.claim", object_id=str(case.public_id)).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_clerks_acting_at_once_one_wins_and_nothing_is_doubled(citizen, implementation, clerk, colleague):
    case = _submitted(citizen, implementation)
    clerks = [clerk, colleague]
    steps = [("accept", ""), ("refuse", "不属于本部门职权")]

    def act(i: int) -> Case:
        action, opinion = steps[i]
        return assign.case_handle(
            actor=clerks[i], case_id=str(case.public_id), action=action, expected_version=case.version, opinion=opinion
        )

    results, errors = _race(act)
    assert len(results) == 1 and len(errors) == 1
    assert isinstance(errors[0], Conflict) and errors[0].code == "case_changed"
    after = _fresh(case)
    assert after.version == case.version + 1 and after.state in ("accepted", "refused")
    assert CaseEvent.objects.filter(case=case).exclude(action="submit").count() == 1
    assert CaseDocument.objects.filter(case=case).count() == 1  # one receipt, of the winning step


# --- receipts -------------------------------------------------------------------------------------------


def _pdf_text(document: CaseDocument) -> str:
    with document.file.file.open("rb") as handle:
        reader = PdfReader(io.BytesIO(handle.read()))
    return "".join(page.extract_text() for page in reader.pages)


@pytest.mark.django_db
def test_acceptance_makes_a_receipt_pdf_with_the_code_and_limits(citizen, implementation, clerk):
    case = _submitted(citizen, implementation)
    case = cases.case_act(actor=clerk, case_id=str(case.public_id), action="accept", expected_version=case.version)
    document = CaseDocument.objects.get(case=case)
    assert document.kind == "accept_receipt" and document.title == "受理通知书"
    assert document.file.content_type == "application/pdf" and document.file.size > 0
    text = _pdf_text(document)
    assert "受理通知书" in text and case.code in text and "出生登记（落户）" in text
    assert "张**" in text and "张晓明" not in text and "110105********002X" in text  # masked
    assert case.due_legal.strftime("%Y-%m-%d") in text and "印章位置" in text and "东湖区公安局" in text
    assert "/cases/lookup/" in text


@pytest.mark.django_db
def test_refusal_makes_a_receipt_with_the_reason_and_the_remedies(citizen, implementation, clerk):
    case = _submitted(citizen, implementation)
    cases.case_act(
        actor=clerk, case_id=str(case.public_id), action="refuse", expected_version=case.version, opinion="申请事项不属于本机关职权范围"
    )
    document = CaseDocument.objects.get(case=case, kind="refuse_receipt")
    text = _pdf_text(document)
    assert "不予受理通知书" in text and case.code in text and "申请事项不属于本机关职权范围" in text
    assert "行政复议" in text and "行政诉讼" in text


@pytest.mark.django_db
def test_deemed_acceptance_makes_its_receipt_too(citizen, implementation):
    case = _submitted(citizen, implementation)
    Case.objects.filter(pk=case.pk).update(submitted_at=dt.datetime(2026, 9, 28, 2, 0, tzinfo=dt.UTC))
    assert cases.cases_deem_accepted(today=dt.date(2026, 10, 12)) == 1
    text = _pdf_text(CaseDocument.objects.get(case=case))
    assert "即为受理" in text and "第三十二条" in text


@pytest.mark.django_db
def test_the_receipt_opens_for_the_applicant_and_staff_in_scope_only(citizen, other_citizen, implementation, clerk, stranger):
    case = _submitted(citizen, implementation)
    cases.case_act(actor=clerk, case_id=str(case.public_id), action="accept", expected_version=case.version)
    document = CaseDocument.objects.get(case=case)
    url = f"/files/{document.file.public_id}/"
    desk = _desk(clerk)
    assert url in desk.get(_url(case)).content.decode()
    response = desk.get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content).startswith(b"%PDF")
    assert signed_in_client(citizen).get(url).status_code == 200
    assert signed_in_client(other_citizen).get(url).status_code == 404
    assert _desk(stranger).get(url).status_code == 404


# --- the case page: claim, suspend with a special step, decide, conclude, deliver -------------------------


@pytest.mark.django_db
def test_claim_views_for_every_kind_of_visitor(client, citizen, implementation, clerk, colleague, admin, stranger):
    case = _submitted(citizen, implementation)
    for tail in ("claim", "release", "reassign", "deliver"):
        response = client.post(_url(case, tail))
        assert response.status_code == 302 and response["Location"].startswith("/console/login"), tail
        assert signed_in_client(citizen).post(_url(case, tail)).status_code == 403, tail
        assert _desk(stranger).post(_url(case, tail), {"expected_version": case.version, "to": str(stranger.public_id)}).status_code == 404
    assert _fresh(case).assignee_id is None
    desk = _desk(clerk)
    assert desk.post(_url(case, "claim")).status_code == 302
    page = desk.get(_url(case)).content.decode()
    assert "认领人：<strong>东湖民警</strong>（您）" in page and "释放回队列" in page and "改派给" not in page
    other = _desk(colleague)
    response = other.post(_url(case, "claim"))
    assert response.status_code == 409 and "该办件已被东湖民警认领" in response.content.decode()
    page = other.get(_url(case)).content.decode()
    assert "只有认领人或部门管理员可以办理" in page and 'name="action" value="accept"' not in page
    response = other.post(_url(case, "act"), {"action": "accept", "expected_version": case.version})
    assert response.status_code == 403 and _fresh(case).state == "submitted"
    assert other.post(_url(case, "reassign"), {"to": str(colleague.public_id)}).status_code == 403
    boss = _desk(admin)
    assert "改派给" in boss.get(_url(case)).content.decode()
    assert boss.post(_url(case, "reassign"), {"to": str(colleague.public_id)}).status_code == 302
    assert _fresh(case).assignee_id == colleague.pk
    assert other.post(_url(case, "release")).status_code == 302 and _fresh(case).assignee_id is None


@pytest.mark.django_db
def test_the_whole_road_on_the_page_with_the_special_step_codes_and_delivery(citizen, implementation, clerk):
    case = _submitted(citizen, implementation)
    desk = _desk(clerk)

    def post(tail: str, data: dict) -> object:
        return desk.post(_url(case, tail), {"expected_version": _fresh(case).version, **data})

    assert post("act", {"action": "accept"}).status_code == 302
    page = desk.get(_url(case)).content.decode()
    assert "受理通知书" in page and 'name="special_step" value="2"' in page and "听证" in page and "核实" in page
    response = post("act", {"action": "suspend", "opinion": "组织听证", "special_step": "9"})
    assert response.status_code == 422 and "特别程序的种类" in response.content.decode()
    assert post("act", {"action": "suspend", "opinion": "组织听证", "special_step": "2"}).status_code == 302
    assert CaseEvent.objects.get(case=case, action="suspend").special_step == 2
    assert "特别程序：2 听证" in desk.get(_url(case)).content.decode()
    assert post("act", {"action": "resume"}).status_code == 302
    assert post("act", {"action": "deny"}).status_code == 422  # a refusal needs its reason
    assert post("act", {"action": "approve"}).status_code == 302
    assert post("act", {"action": "conclude"}).status_code == 302
    page = desk.get(_url(case)).content.decode()
    assert "办结结果：<strong>0 出证办结（准予）</strong>" in page and "送达方式" in page
    assert post("act", {"action": "deliver"}).status_code == 400  # delivery has its own form
    response = post("deliver", {"method": "3", "address": ""})
    assert response.status_code == 422 and "收件地址" in response.content.decode()
    assert post("deliver", {"method": "3", "address": "南昌市东湖区八一大道1号 张晓明 13812345678", "note": "EMS 1234"}).status_code == 302
    done = _fresh(case)
    assert done.state == "delivered" and done.delivery_method == Case.Delivery.COURIER and done.delivery_address.startswith("南昌市")
    assert CaseEvent.objects.get(case=case, action="deliver").opinion == "送达方式：邮寄送达；EMS 1234"


@pytest.mark.django_db
def test_delivery_set_checks_the_method_and_keeps_no_address_for_pick_up(citizen, implementation, clerk):
    case = _submitted(citizen, implementation)
    with pytest.raises(ValidationFailed):
        assign.delivery_set(actor=clerk, case_id=str(case.public_id), method="7")
    done = assign.delivery_set(actor=clerk, case_id=str(case.public_id), method=Case.Delivery.WINDOW, address="不需要的地址")
    assert done.delivery_method == Case.Delivery.WINDOW and _fresh(case).delivery_address == ""


# --- lights and the supervision list --------------------------------------------------------------------


@pytest.mark.django_db
def test_pre_review_gets_a_light_and_supervision_lists_late_pre_review_and_steps(citizen, implementation, clerk, stranger):
    late = _submitted(citizen, implementation)
    Case.objects.filter(pk=late.pk).update(step_due=dt.date(2026, 10, 9))
    legacy = _submitted(citizen, implementation)  # from before step limits: §32 from its arrival
    Case.objects.filter(pk=legacy.pk).update(step_due=None, submitted_at=dt.datetime(2026, 9, 28, 2, 0, tzinfo=dt.UTC))
    fresh = _submitted(citizen, implementation)
    decided = _submitted(citizen, implementation)
    for action in ("accept", "approve"):
        decided = cases.case_act(actor=clerk, case_id=str(decided.public_id), action=action, expected_version=decided.version)
    Case.objects.filter(pk=decided.pk).update(step_due=dt.date(2026, 10, 9))  # §44: the certificate is late
    desk = _desk(clerk)
    page = desk.get("/workbench/?state=pre_review").content.decode()
    assert page.count("红灯 · 已超期") == 2 and "绿灯 · 正常" in page
    board = desk.get("/workbench/supervision/").content.decode()
    assert late.code in board and legacy.code in board and decided.code in board
    assert fresh.code not in board
    assert "2026-10-09" in board
    assert late.code not in _desk(stranger).get("/workbench/supervision/").content.decode()
    assert signed_in_client(citizen).get("/workbench/supervision/").status_code == 403


@pytest.mark.django_db
def test_yellow_follows_the_configured_threshold(settings, citizen, implementation, clerk):
    case = _submitted(citizen, implementation)  # pre-review due in five working days
    desk = _desk(clerk)
    settings.CLOCK_YELLOW_WORKING_DAYS = 1
    assert case.code not in desk.get("/workbench/supervision/").content.decode()
    settings.CLOCK_YELLOW_WORKING_DAYS = 10
    page = desk.get("/workbench/supervision/").content.decode()
    assert case.code in page and "黄灯 · 临近期限" in page


# --- one-window intake ----------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "申请人姓名"},
        "id_number": {"type": "string", "title": "身份证号码"},
        "company": {"type": "string", "title": "拟设立公司名称", "maxLength": 40},
        "capital": {"type": "integer", "title": "注册资本（万元）"},
    },
    "required": ["name", "id_number", "company"],
}
LAYOUT = {"fields": {"name": {"prefill": "name"}, "id_number": {"prefill": "id_number"}}, "commitment": True}


@pytest.fixture
def window(mini, templates):
    """企业设立登记 at 东湖区市场监管局 with its application form, and its window clerk."""
    impl = impl_of(mini.company, mini.market_donghu)
    forms.application_form_save(actor=None, implementation=impl, schema=SCHEMA, layout=LAYOUT)
    return impl


@pytest.fixture
def window_clerk(mini):
    return _staff("donghu-market", mini.market_donghu, name="东湖市场监管窗口")


def _intake_post(impl, token: str, **extra) -> dict:
    materials = list(impl.base.materials.order_by("sort", "id"))
    data = {
        "impl": impl.code,
        "token": token,
        "applicant_name": "王芳",
        "applicant_id_number": "36010219900101123X",
        "applicant_mobile": "13700001111",
        "company": "南昌通办科技有限公司",
        "capital": "100",
        "commitment": "1",
        "delivery_method": "2",
        f"scan-{materials[0].pk}": SimpleUploadedFile("申请书.pdf", PDF, content_type="application/pdf"),
        f"paper-{materials[1].pk}": "1",
    }
    data.update(extra)
    return data


def _token(page: str) -> str:
    found = re.search(r'name="token" value="([0-9a-f-]{36})"', page)
    assert found, page[:500]
    return found.group(1)


@pytest.mark.django_db
def test_intake_registers_a_new_citizen_and_the_case_goes_to_the_queue(window, window_clerk):
    desk = _desk(window_clerk)
    choose = desk.get("/workbench/intake/").content.decode()
    assert "企业设立登记（有限责任公司）" in choose and window.code in choose
    page = desk.get(f"/workbench/intake/?impl={window.code}").content.decode()
    assert "拟设立公司名称" in page and "申请人姓名" not in page  # filled from the ID card fields
    token = _token(page)
    response = desk.post("/workbench/intake/", _intake_post(window, token))
    assert response.status_code == 302, response.content.decode()[:2000]
    case = Case.objects.get(public_id=token)
    assert case.code and case.state == "submitted" and case.channel == Case.Channel.WINDOW and case.intake_by == window_clerk
    assert case.delivery_method == Case.Delivery.WINDOW and case.commitment_signed_at is not None
    assert case.form_data == {"name": "王芳", "id_number": "36010219900101123X", "company": "南昌通办科技有限公司", "capital": 100}
    person = account_find_by_id_number("36010219900101123X")
    assert person is not None and case.applicant == person and person.display_name == "王芳" and person.mobile == "13700001111"
    sources = sorted(CaseMaterial.objects.filter(case=case).values_list("source", flat=True))
    assert sources == ["paper", "window_scan"]
    receipt = desk.get(response["Location"]).content.decode()
    password = re.search(r'<strong class="code">(\d{6})</strong>', receipt).group(1)
    assert case.code in receipt and "王*" in receipt
    assert forms.case_lookup(case.code, password) == case  # the printed password works
    again = desk.get(response["Location"]).content.decode()
    assert password not in again and "只在提交后显示一次" in again
    # A double post registers nothing more and shows the same receipt.
    response = desk.post("/workbench/intake/", _intake_post(window, token))
    assert response.status_code == 302 and Case.objects.filter(intake_by=window_clerk).count() == 1
    queue = desk.get("/workbench/").content.decode()
    assert case.code in queue and "窗口" in queue


@pytest.mark.django_db
def test_intake_finds_a_known_citizen_and_checks_the_name(window, window_clerk, citizen):
    token = _token(_desk(window_clerk).get(f"/workbench/intake/?impl={window.code}").content.decode())
    common = {"applicant_id_number": "11010519491231002X", "applicant_mobile": ""}
    response = _desk(window_clerk).post("/workbench/intake/", _intake_post(window, token, applicant_name="张小明", **common))
    assert response.status_code == 422 and "姓名与平台记录（张**）不一致" in response.content.decode()
    assert not Case.objects.filter(public_id=token).exists()
    response = _desk(window_clerk).post("/workbench/intake/", _intake_post(window, token, applicant_name="张晓明", **common))
    assert response.status_code == 302
    assert Case.objects.get(public_id=token).applicant == citizen


@pytest.mark.django_db
def test_intake_keeps_what_was_typed_and_names_every_problem(window, window_clerk):
    desk = _desk(window_clerk)
    token = _token(desk.get(f"/workbench/intake/?impl={window.code}").content.decode())
    materials = list(window.base.materials.order_by("sort", "id"))
    data = _intake_post(window, token, applicant_id_number="360102199001011235", company="", commitment="", delivery_method="3")
    del data[f"paper-{materials[1].pk}"]
    response = desk.post("/workbench/intake/", data)
    page = response.content.decode()
    assert response.status_code == 422
    assert "校验未通过" in page and "请填写拟设立公司名称" in page and "承诺书" in page and "收件地址" in page and "公司章程" in page
    assert 'value="王芳"' in page and f'value="{token}"' in page
    assert not Case.objects.exists() and account_find_by_id_number("36010219900101123X") is None


@pytest.mark.django_db
def test_intake_access_for_every_kind_of_visitor(client, window, window_clerk, citizen, clerk, implementation):
    response = client.get("/workbench/intake/")
    assert response.status_code == 302 and response["Location"].startswith("/console/login")
    assert client.post("/workbench/intake/", {"impl": window.code}).status_code == 302
    assert signed_in_client(citizen).get("/workbench/intake/").status_code == 403
    other = _desk(clerk)  # a window clerk of 东湖区公安局: not this item's department
    page = other.get("/workbench/intake/").content.decode()
    assert window.code not in page
    assert other.get(f"/workbench/intake/?impl={window.code}").status_code == 404
    token = "0b6a4c1e-8a61-4a3c-9d1f-2f1f0e5d7a11"
    assert other.post("/workbench/intake/", _intake_post(window, token)).status_code == 404
    assert not Case.objects.exists()
    reviewer = identity.staff_account_upsert(
        actor=None, username="market-reviewer", password=STAFF_PASSWORD, display_name="审核", kind="staff", department=window.department
    )
    staff_service.system_role_grant(account=reviewer, role=StaffRole.Role.REVIEWER, department=window.department)
    staff_service.totp_enrol_known_secret(actor=None, account=reviewer, secret=staff_service.demo_totp_secret("market-reviewer"))
    assert _desk(reviewer).get("/workbench/intake/").status_code == 403  # no window-clerk role anywhere
    # The receipt page: only the clerk who registered the case.
    desk = _desk(window_clerk)
    token = _token(desk.get(f"/workbench/intake/?impl={window.code}").content.decode())
    location = desk.post("/workbench/intake/", _intake_post(window, token))["Location"]
    assert other.get(location).status_code == 404
    assert signed_in_client(citizen).get(location).status_code == 403
    assert client.get(location).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_two_posts_of_one_intake_form_at_once_make_one_case(window, window_clerk):
    import uuid

    token = str(uuid.uuid4())
    materials = list(window.base.materials.order_by("sort", "id"))

    def submit(_i: int) -> intake.IntakeResult:
        return intake.intake_submit(
            clerk=window_clerk,
            implementation=window,
            token=token,
            applicant_name="王芳",
            applicant_id_number="36010219900101123X",
            data={"company": "南昌通办科技有限公司"},
            scans={materials[0].pk: [SimpleUploadedFile("a.pdf", PDF)]},
            paper=[materials[1].pk],
            commitment=True,
        )

    results, errors = _race(submit)
    assert errors == [] and len(results) == 2
    assert sorted(bool(r.query_password) for r in results) == [False, True]  # type: ignore[attr-defined]
    assert Case.objects.count() == 1 and Account.objects.filter(display_name="王芳").count() == 1
    assert CaseMaterial.objects.filter(source="window_scan").count() == 1
    assert machine.State(Case.objects.get().state) == machine.State.SUBMITTED
