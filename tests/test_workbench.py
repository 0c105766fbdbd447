"""Department staff's workbench (/workbench/) through the test client against the real database:
the scoped queue, a case's detail and steps with the version the clerk saw, the one-time complete
correction notice, and the supervision list of cases near or past their limit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import STAFF_PASSWORD
from tests.factories import impl_of
from tests.staff_support import console_sign_in
from tongban.cases import services as cases
from tongban.cases.models import Case, CaseEvent, CorrectionNotice


@pytest.fixture
def implementation(mini, templates):
    impl = impl_of(mini.birth, mini.police_donghu)
    impl.legal_limit, impl.promised_limit = 5, 3
    impl.save()
    return impl


@pytest.fixture
def desk(clerk) -> Client:
    client = Client()
    assert console_sign_in(client, clerk, STAFF_PASSWORD).status_code == 302
    return client


def _submitted(citizen, implementation) -> Case:
    draft = cases.case_draft(applicant=citizen, implementation=implementation, form_data={"姓名": "张晓明", "新生儿姓名": "张小宝"})
    return cases.case_submit(applicant=citizen, case_id=str(draft.public_id))


def _url(case: Case, tail: str = "") -> str:
    return f"/workbench/cases/{case.public_id}/{tail}"


@pytest.mark.django_db
def test_anonymous_visitors_go_to_the_console_login(client, citizen, implementation):
    case = _submitted(citizen, implementation)
    for url in ("/workbench/", "/workbench/supervision/", _url(case)):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/console/login"), url
    response = client.post(_url(case, "act"), {"action": "accept", "expected_version": case.version})
    assert response.status_code == 302 and response["Location"].startswith("/console/login")
    assert Case.objects.get(pk=case.pk).state == "submitted"


@pytest.mark.django_db
def test_a_clerk_of_another_department_sees_nothing(citizen, implementation, stranger):
    case = _submitted(citizen, implementation)
    client = Client()
    console_sign_in(client, stranger, STAFF_PASSWORD)
    queue = client.get("/workbench/")
    assert queue.status_code == 200 and case.code not in queue.content.decode() and "暂无办件" in queue.content.decode()
    assert client.get(_url(case)).status_code == 404
    response = client.post(_url(case, "act"), {"action": "accept", "expected_version": case.version})
    assert response.status_code == 404
    assert Case.objects.get(pk=case.pk).state == "submitted"


@pytest.mark.django_db
def test_the_queue_shows_the_case_masked_and_filters_by_state(desk, citizen, implementation):
    case = _submitted(citizen, implementation)
    page = desk.get("/workbench/").content.decode()
    assert case.code in page and "出生登记（落户）" in page and "张**" in page and "张晓明" not in page
    assert case.code in desk.get("/workbench/?state=pre_review").content.decode()
    assert case.code not in desk.get("/workbench/?state=handling").content.decode()


@pytest.mark.django_db
def test_the_clerk_accepts_suspends_and_resumes_and_the_due_date_moves(desk, citizen, implementation):
    case = _submitted(citizen, implementation)
    detail = desk.get(_url(case)).content.decode()
    assert "张小宝" in detail and f'name="expected_version" value="{case.version}"' in detail and "受理" in detail
    response = desk.post(_url(case, "act"), {"action": "accept", "expected_version": case.version})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == "accepted" and case.due_legal is not None
    # A step that needs an opinion is refused without one, and nothing changes.
    response = desk.post(_url(case, "act"), {"action": "suspend", "expected_version": case.version})
    assert response.status_code == 422 and "意见" in response.content.decode()
    assert Case.objects.get(pk=case.pk).state == "accepted"
    response = desk.post(_url(case, "act"), {"action": "suspend", "expected_version": case.version, "opinion": "组织听证"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == "suspended"
    before = case.due_legal
    # The hearing began two weeks ago: resuming today counts its working days.
    Case.objects.filter(pk=case.pk).update(suspended_since=case.suspended_since - dt.timedelta(days=14))
    response = desk.post(_url(case, "act"), {"action": "resume", "expected_version": case.version})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == "accepted" and case.suspended_working_days > 0 and case.due_legal > before
    page = desk.get(_url(case)).content.decode()
    assert "组织听证" in page and "环节结果：6 特别程序（挂起）" in page and "环节结果：4 受理" in page
    assert list(CaseEvent.objects.filter(case=case).order_by("id").values_list("action", flat=True)) == [
        "submit",
        "accept",
        "suspend",
        "resume",
    ]


@pytest.mark.django_db
def test_one_correction_notice_lists_every_problem_at_once(desk, citizen, implementation):
    case = _submitted(citizen, implementation)
    page = desk.get(_url(case)).content.decode()
    assert "出生医学证明" in page and "父母双方居民户口簿" in page and "补正后新出现的问题" in page
    response = desk.post(
        _url(case, "correction"),
        {
            "expected_version": case.version,
            "m-0-selected": "1",
            "m-0-reason": "复印件不清晰",
            "m-1-selected": "1",
            "m-1-reason": "缺少父亲一页",
        },
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == "correcting"
    notice = CorrectionNotice.objects.get(case=case)
    assert notice.problems == [
        {"material": "出生医学证明", "reason": "复印件不清晰", "new_in_correction": False},
        {"material": "父母双方居民户口簿", "reason": "缺少父亲一页", "new_in_correction": False},
    ]
    assert "缺少父亲一页" in desk.get(_url(case)).content.decode()


@pytest.mark.django_db
def test_a_correction_without_a_reason_keeps_what_was_typed(desk, citizen, implementation):
    case = _submitted(citizen, implementation)
    response = desk.post(
        _url(case, "correction"), {"expected_version": case.version, "m-0-selected": "1", "m-1-selected": "1", "m-1-reason": "缺页"}
    )
    assert response.status_code == 422 and "写明材料和原因" in response.content.decode() and 'value="缺页"' in response.content.decode()
    assert Case.objects.get(pk=case.pk).state == "submitted" and not CorrectionNotice.objects.exists()


@pytest.mark.django_db
def test_two_clerks_with_the_same_version_one_wins(desk, clerk, operator, citizen, implementation):
    case = _submitted(citizen, implementation)
    other = Client()
    console_sign_in(other, operator, STAFF_PASSWORD)
    seen = case.version
    assert desk.post(_url(case, "act"), {"action": "accept", "expected_version": seen}).status_code == 302
    response = other.post(_url(case, "act"), {"action": "refuse", "expected_version": seen, "opinion": "材料不全"})
    assert response.status_code == 409 and "该办件刚刚已被他人处理" in response.content.decode()
    after = Case.objects.get(pk=case.pk)
    assert after.state == "accepted" and after.version == seen + 1
    response = other.post(_url(case, "correction"), {"expected_version": seen, "m-0-selected": "1", "m-0-reason": "不清晰"})
    assert response.status_code == 409 and "该办件刚刚已被他人处理" in response.content.decode()
    assert Case.objects.get(pk=case.pk).state == "accepted" and not CorrectionNotice.objects.exists()


@pytest.mark.django_db
def test_the_supervision_list_shows_an_overdue_case_as_red(desk, clerk, citizen, implementation):
    late = _submitted(citizen, implementation)
    cases.case_act(actor=clerk, case_id=str(late.public_id), action="accept", expected_version=late.version, on=dt.date(2026, 9, 28))
    fresh = _submitted(citizen, implementation)
    cases.case_act(actor=clerk, case_id=str(fresh.public_id), action="accept", expected_version=fresh.version)
    page = desk.get("/workbench/supervision/").content.decode()
    assert late.code in page and "红灯 · 已超期" in page and "light-red" in page
    assert fresh.code not in page  # five working days left: green, not listed
    assert "红灯 · 已超期" in desk.get("/workbench/?state=handling").content.decode()


@pytest.mark.django_db
def test_the_queue_costs_the_same_queries_for_one_case_or_many(desk, citizen, other_citizen, implementation):
    _submitted(citizen, implementation)
    desk.get("/workbench/")  # warm the session

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert desk.get("/workbench/").status_code == 200
        return len(queries)

    one = count()
    for applicant in (citizen, other_citizen, citizen, other_citizen):
        _submitted(applicant, implementation)
    assert count() == one
