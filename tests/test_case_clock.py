"""Per-step limits, special procedures and the reminders to clerks before and after a limit."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.factories import impl_of
from tongban.cases import clock, reminders
from tongban.cases import services as cases
from tongban.cases.models import Case, CaseEvent
from tongban.common.errors import ValidationFailed
from tongban.messaging.models import InboxItem

MONDAY = dt.date(2026, 11, 2)


@pytest.fixture
def implementation(mini, templates):
    impl = impl_of(mini.birth, mini.police_donghu)
    impl.legal_limit, impl.promised_limit = 5, 3
    impl.step_limits = {"pre_review": 2}
    impl.save()
    return impl


def _submitted(citizen, implementation):
    draft = cases.case_draft(applicant=citizen, implementation=implementation)
    return cases.case_submit(applicant=citizen, case_id=str(draft.public_id))


def _act(case, actor, action, on=None, **extra):
    return cases.case_act(actor=actor, case_id=str(case.public_id), action=action, expected_version=case.version, on=on, **extra)


@pytest.mark.django_db
def test_each_step_has_its_own_limit_and_the_case_its_department(citizen, implementation, clerk):
    case = _submitted(citizen, implementation)
    assert case.department_id == implementation.department_id
    submitted_on = case.submitted_at.astimezone(cases.LOCAL).date()
    assert case.step_due == clock.due(submitted_on, 2)  # the implementation promises pre-review in 2 working days
    case = _act(case, clerk, "accept", on=MONDAY)
    assert case.step_due is None  # no review step limit: the legal and promised limits rule
    case = _act(case, clerk, "approve", on=MONDAY)
    assert case.step_due == clock.due(MONDAY, 10)  # §44: the certificate within 10 working days of the decision
    case = _act(case, clerk, "conclude")
    assert case.step_due is None
    assert set(CaseEvent.objects.filter(case=case).values_list("department_id", flat=True)) == {implementation.department_id}


@pytest.mark.django_db
def test_a_suspension_names_its_special_procedure(citizen, implementation, clerk):
    case = _act(_submitted(citizen, implementation), clerk, "accept", on=MONDAY)
    with pytest.raises(ValidationFailed) as caught:
        _act(case, clerk, "suspend", opinion="专家评审", special_step=6)  # 预审补正 is not a suspension
    assert caught.value.code == "special_step_invalid"
    with pytest.raises(ValidationFailed):
        _act(case, clerk, "extend", opinion="延期", special_step=2)  # only a suspension names one
    case = _act(case, clerk, "suspend", opinion="组织听证", special_step=2)
    case = _act(case, clerk, "resume")
    case = _act(case, clerk, "ask_supplement", opinion="补充现场照片")
    specials = list(CaseEvent.objects.filter(case=case).order_by("id").values_list("action", "special_step"))
    assert specials == [("submit", None), ("accept", None), ("suspend", 2), ("resume", None), ("ask_supplement", 1)]


def _reminders(account):
    items = InboxItem.objects.filter(account=account, message__template_version__template__code="case-deadline")
    return list(items.order_by("id").values_list("title", flat=True))


@pytest.mark.django_db
def test_clerks_are_reminded_once_before_and_once_after_the_limit(citizen, implementation, clerk):
    case = _act(_submitted(citizen, implementation), clerk, "accept", on=MONDAY)
    due = case.due_promised
    assert due == clock.due(MONDAY, 3)
    day_before = dt.date(2026, 11, 4)
    assert reminders.cases_remind(today=MONDAY) == 0  # three working days to go: green
    assert reminders.cases_remind(today=day_before) == 1
    assert reminders.cases_remind(today=day_before) == 0  # once per stage
    assert _reminders(clerk) == ["办件即将到期：" + implementation.base.name]
    after = due + dt.timedelta(days=1)
    assert reminders.cases_remind(today=after) == 1
    assert reminders.cases_remind(today=after) == 0
    assert len(_reminders(clerk)) == 2 and _reminders(clerk)[-1].startswith("办件已超期")
    assert _reminders(citizen) == []  # reminders go to the department's staff, not the applicant


@pytest.mark.django_db
def test_a_moved_limit_is_reminded_afresh_and_a_suspended_case_is_not(citizen, implementation, clerk):
    case = _act(_submitted(citizen, implementation), clerk, "accept", on=MONDAY)
    assert reminders.cases_remind(today=dt.date(2026, 11, 4)) == 1
    case = _act(Case.objects.get(pk=case.pk), clerk, "extend", opinion="情况复杂，经负责人批准延期")
    assert case.reminded_stage == 0
    assert reminders.cases_remind(today=dt.date(2026, 11, 4)) == 0  # ten more working days: green again
    case = _act(case, clerk, "suspend", opinion="检测", special_step=4)
    assert reminders.cases_remind(today=dt.date(2026, 12, 30)) == 0  # the clock is stopped


@pytest.mark.django_db
def test_a_claimed_case_reminds_only_its_assignee(citizen, implementation, clerk, operator):
    case = _act(_submitted(citizen, implementation), clerk, "accept", on=MONDAY)
    Case.objects.filter(pk=case.pk).update(assignee=operator)
    assert reminders.cases_remind(today=dt.date(2026, 11, 4)) == 1
    assert len(_reminders(operator)) == 1 and _reminders(clerk) == []


@pytest.mark.real_calendar
@pytest.mark.django_db
def test_without_next_years_calendar_a_step_target_waits_but_a_legal_limit_is_not_guessed(citizen, implementation, clerk):
    from tongban.org.calendar import CalendarUnknown

    case = _act(_submitted(citizen, implementation), clerk, "accept", on=dt.date(2026, 12, 1))
    assert case.due_legal == dt.date(2026, 12, 8)
    case = _act(case, clerk, "approve", on=dt.date(2026, 12, 28))  # §44's ten days would end in 2027
    assert case.state == "decided" and case.step_due is None
    other = _act(_submitted(citizen, implementation), clerk, "accept", on=dt.date(2026, 12, 24))
    assert other.due_legal == dt.date(2026, 12, 31)
    with pytest.raises(CalendarUnknown):
        _act(Case.objects.get(pk=other.pk), clerk, "extend", opinion="情况复杂")  # the legal limit would fall in 2027
