"""The case centre's core: the state machine (property-based), registration codes under concurrency,
and the statutory clock across 2026's National Day holiday with suspension and extension."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import impl_of
from tongban.cases import clock, machine
from tongban.cases import services as cases
from tongban.cases.models import Case, CaseEvent
from tongban.common.errors import Conflict, ValidationFailed

ACTIONS = sorted(machine.TRANSITIONS)
ACTORS = list(machine.Actor)


# --- the state machine ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ACTIONS), st.sampled_from(ACTORS)), max_size=25))
def test_no_sequence_of_actions_reaches_an_invalid_state(steps):
    state = machine.State.DRAFT
    conclusion = None
    for action, actor in steps:
        try:
            transition = machine.next_state(state, action, actor)
        except machine.NotAllowed:
            continue
        assert state not in machine.TERMINAL  # nothing leaves a terminal state
        state = transition.target
        if transition.conclusion is not None:
            conclusion = transition.conclusion
            assert conclusion in machine.CONCLUSIONS
        if transition.step_result is not None:
            assert transition.step_result in machine.STEP_RESULTS
    assert state in machine.State
    if state in (machine.State.REFUSED, machine.State.WITHDRAWN, machine.State.DECIDED, machine.State.CONCLUDED, machine.State.DELIVERED):
        assert conclusion is not None  # every ending has its conclusion code


def test_terminal_states_offer_nothing_and_every_state_is_reachable():
    for state in machine.TERMINAL:
        assert machine.allowed(state) == []
    reachable = {machine.State.DRAFT}
    frontier = [machine.State.DRAFT]
    while frontier:
        state = frontier.pop()
        for transition in machine.allowed(state):
            if transition.target not in reachable:
                reachable.add(transition.target)
                frontier.append(transition.target)
    assert reachable == set(machine.State)


def test_conclusions_with_a_reason_require_an_opinion():
    for transition in machine.TRANSITIONS.values():
        if transition.conclusion in machine.CONCLUSION_NEEDS_REASON and transition.actor == machine.Actor.CLERK:
            assert transition.needs_opinion, transition.action


# --- the clock -----------------------------------------------------------------------------------------

ACCEPTED = dt.date(2026, 9, 28)  # the Monday before National Day; 10 October is a make-up Saturday


@pytest.mark.django_db
def test_the_limit_runs_in_working_days_across_the_holiday():
    assert clock.due(ACCEPTED, 5) == dt.date(2026, 10, 10)
    assert clock.due(ACCEPTED, 5, extension_days=clock.EXTENSION_DAYS) == dt.date(2026, 10, 23)


@pytest.mark.django_db
def test_a_suspension_moves_the_deadline_by_its_working_days():
    taken = clock.suspended_days(dt.date(2026, 9, 29), dt.date(2026, 10, 9))
    assert taken == 3  # 30 September, 8 and 9 October
    assert clock.due(ACCEPTED, 5, suspended_working_days=taken) == dt.date(2026, 10, 14)


@pytest.mark.django_db
def test_lights():
    assert clock.light(dt.date(2026, 10, 10), dt.date(2026, 9, 29), yellow_days=1) == "green"
    assert clock.light(dt.date(2026, 10, 10), dt.date(2026, 10, 9), yellow_days=1) == "yellow"
    assert clock.light(dt.date(2026, 10, 10), dt.date(2026, 10, 11), yellow_days=1) == "red"


# --- services ------------------------------------------------------------------------------------------


@pytest.fixture
def implementation(mini, templates):
    impl = impl_of(mini.birth, mini.police_donghu)
    impl.legal_limit, impl.promised_limit = 5, 3
    impl.save()
    return impl


def _submitted(citizen, implementation):
    draft = cases.case_draft(applicant=citizen, implementation=implementation, form_data={"姓名": "张晓明"})
    return cases.case_submit(applicant=citizen, case_id=str(draft.public_id))


@pytest.mark.django_db
def test_submission_gives_a_43_character_code_once(citizen, implementation):
    case = _submitted(citizen, implementation)
    assert len(case.code) == 43 and case.code.startswith(implementation.code) and case.code.endswith("0001")
    again = cases.case_submit(applicant=citizen, case_id=str(case.public_id))
    assert again.code == case.code and CaseEvent.objects.filter(case=case, action="submit").count() == 1
    assert _submitted(citizen, implementation).code.endswith("0002")


@pytest.mark.django_db
def test_the_clock_follows_acceptance_suspension_and_one_extension(citizen, implementation, clerk):
    case = _submitted(citizen, implementation)
    case = cases.case_act(actor=clerk, case_id=str(case.public_id), action="accept", expected_version=case.version, on=ACCEPTED)
    assert case.due_legal == dt.date(2026, 10, 10) and case.due_promised == clock.due(ACCEPTED, 3)
    with pytest.raises(ValidationFailed):
        cases.case_act(actor=clerk, case_id=str(case.public_id), action="suspend", expected_version=case.version, on=dt.date(2026, 9, 29))
    case = cases.case_act(
        actor=clerk,
        case_id=str(case.public_id),
        action="suspend",
        expected_version=case.version,
        opinion="组织听证",
        on=dt.date(2026, 9, 29),
    )
    case = cases.case_act(actor=clerk, case_id=str(case.public_id), action="resume", expected_version=case.version, on=dt.date(2026, 10, 9))
    assert case.suspended_working_days == 3 and case.due_legal == dt.date(2026, 10, 14)
    case = cases.case_act(
        actor=clerk, case_id=str(case.public_id), action="extend", expected_version=case.version, opinion="情况复杂，经负责人批准延期"
    )
    assert case.due_legal == clock.due(ACCEPTED, 5, extension_days=10, suspended_working_days=3)
    with pytest.raises(Conflict) as caught:
        cases.case_act(actor=clerk, case_id=str(case.public_id), action="extend", expected_version=case.version, opinion="再次延期")
    assert caught.value.code == "already_extended"
    case = cases.case_act(actor=clerk, case_id=str(case.public_id), action="approve", expected_version=case.version)
    assert case.state == "decided" and case.conclusion == 0
    steps = list(CaseEvent.objects.filter(case=case).order_by("id").values_list("action", "step_result"))
    assert steps == [("submit", None), ("accept", 4), ("suspend", 6), ("resume", 1), ("extend", 1), ("approve", 1)]


@pytest.mark.django_db
def test_two_clerks_on_one_case_one_wins(citizen, implementation, clerk, operator):
    case = _submitted(citizen, implementation)
    seen = case.version
    cases.case_act(actor=clerk, case_id=str(case.public_id), action="accept", expected_version=seen)
    with pytest.raises(Conflict) as caught:
        cases.case_act(actor=operator, case_id=str(case.public_id), action="refuse", expected_version=seen, opinion="材料不全")
    assert caught.value.code == "case_changed"
    assert Case.objects.get(pk=case.pk).state == "accepted"


@pytest.mark.django_db
def test_a_step_out_of_order_or_by_the_wrong_party_is_refused(citizen, implementation, clerk):
    case = _submitted(citizen, implementation)
    with pytest.raises(Conflict):
        cases.case_act(actor=clerk, case_id=str(case.public_id), action="approve", expected_version=case.version)
    with pytest.raises(Conflict):
        cases.case_act(actor=clerk, case_id=str(case.public_id), action="withdraw", expected_version=case.version)  # the applicant's step
    refused = cases.case_act(
        actor=clerk, case_id=str(case.public_id), action="refuse", expected_version=case.version, opinion="不属于本部门职权"
    )
    assert refused.state == "refused" and refused.conclusion == 6


@pytest.mark.django_db(transaction=True)
def test_registration_codes_are_unique_under_parallel_submissions(citizen, implementation):
    drafts = [cases.case_draft(applicant=citizen, implementation=implementation) for _ in range(24)]
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def submit(chunk):
        try:
            barrier.wait()
            for draft in chunk:
                for _ in range(20):  # SQLite answers "database is locked" to a writer that waits too long
                    try:
                        cases.case_submit(applicant=citizen, case_id=str(draft.public_id))
                        break
                    except Exception as exc:
                        if "locked" not in str(exc):
                            raise
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(drafts[i::6],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    codes = list(Case.objects.exclude(code=None).values_list("code", flat=True))
    assert len(codes) == 24 == len(set(codes))
    assert sorted(code[-4:] for code in codes) == [f"{n:04d}" for n in range(1, 25)]


@pytest.mark.django_db(transaction=True)
def test_a_code_is_never_given_outside_a_transaction(implementation):
    with pytest.raises(RuntimeError):
        cases.next_case_code(implementation.code, dt.date(2026, 11, 22))
    with transaction.atomic():
        assert cases.next_case_code(implementation.code, dt.date(2026, 11, 22)).endswith("202611220001")


# --- the one-time correction notice, §32, scoping, messages ------------------------------------------


def _materials(implementation):
    return list(implementation.base.materials.values_list("name", flat=True))


@pytest.mark.django_db
def test_one_notice_lists_every_problem_and_a_second_is_refused(citizen, implementation, clerk):
    first, second = _materials(implementation)[:2]
    case = _submitted(citizen, implementation)
    with pytest.raises(ValidationFailed):
        cases.correction_notice(actor=clerk, case_id=str(case.public_id), expected_version=case.version, problems=[])
    with pytest.raises(ValidationFailed) as caught:
        problems = [{"material": "不存在的材料", "reason": "x"}]
        cases.correction_notice(actor=clerk, case_id=str(case.public_id), expected_version=case.version, problems=problems)
    assert caught.value.code == "material_unknown"
    problems = [{"material": first, "reason": "照片模糊"}, {"material": second, "reason": "缺少签字"}]
    case = cases.correction_notice(actor=clerk, case_id=str(case.public_id), expected_version=case.version, problems=problems)
    assert case.state == "correcting"
    notice = case.correction_notices.get()
    assert [p["material"] for p in notice.problems] == [first, second]
    case = cases.case_act(
        actor=citizen, case_id=str(case.public_id), action="resubmit", expected_version=case.version, actor_kind="applicant"
    )
    assert case.submission_round == 2
    with pytest.raises(Conflict) as caught:  # an old problem that should have been in the first notice
        late = [{"material": first, "reason": "身份证过期"}]
        cases.correction_notice(actor=clerk, case_id=str(case.public_id), expected_version=case.version, problems=late)
    assert caught.value.code == "notice_not_new"
    new = [{"material": second, "reason": "补交的签字页缺页", "new_in_correction": True}]
    case = cases.correction_notice(actor=clerk, case_id=str(case.public_id), expected_version=case.version, problems=new)
    with pytest.raises(Conflict) as caught:
        cases.correction_notice(actor=clerk, case_id=str(case.public_id), expected_version=case.version, problems=new)
    assert caught.value.code in ("notice_already_sent", "case_transition")


@pytest.mark.django_db
def test_not_notified_within_five_working_days_counts_as_accepted_from_receipt(citizen, implementation):
    case = _submitted(citizen, implementation)
    Case.objects.filter(pk=case.pk).update(submitted_at=dt.datetime(2026, 9, 28, 2, 0, tzinfo=dt.UTC))  # Monday 10:00 Beijing
    assert cases.pre_review_deadline(Case.objects.get(pk=case.pk)) == dt.date(2026, 10, 10)
    assert cases.cases_deem_accepted(today=dt.date(2026, 10, 10)) == 0  # the last day is still in time
    assert cases.cases_deem_accepted(today=dt.date(2026, 10, 12)) == 1
    case.refresh_from_db()
    assert case.state == "accepted" and case.accepted_on == dt.date(2026, 9, 28)
    assert case.events.get(action="deem_accepted").actor_kind == "system"
    assert cases.cases_deem_accepted(today=dt.date(2026, 10, 12)) == 0


@pytest.mark.django_db
def test_queues_and_lookups_are_scoped_in_the_query(citizen, other_citizen, implementation, clerk, mini):
    from tongban.cases import selectors
    from tongban.identity import services as identity

    case = _submitted(citizen, implementation)
    outsider = identity.staff_account_upsert(
        actor=None,
        username="wuyuan-police",
        password="Outsider-Pass-2026!",
        display_name="婺源民警",
        kind="staff",
        department=mini.police_wuyuan,
    )
    from tongban.identity.staff import system_role_grant

    system_role_grant(account=outsider, role="window_clerk", department=mini.police_wuyuan)
    assert [c.pk for c in selectors.work_queue(account=clerk).items] == [case.pk]
    assert selectors.work_queue(account=outsider).items == []
    assert selectors.case_get_for_staff(account=outsider, case_id=str(case.public_id)) is None
    assert selectors.case_get_for_staff(account=clerk, case_id=str(case.public_id)) == case
    assert selectors.case_get_for_applicant(account=other_citizen, case_id=str(case.public_id)) is None
    assert [c.pk for c in selectors.cases_of(account=citizen).items] == [case.pk]


@pytest.mark.django_db
def test_the_applicant_hears_of_every_node(citizen, implementation, clerk):
    from tongban.messaging.models import InboxItem

    case = _submitted(citizen, implementation)
    cases.case_act(actor=clerk, case_id=str(case.public_id), action="accept", expected_version=case.version)
    titles = list(InboxItem.objects.filter(account=citizen).order_by("id").values_list("title", flat=True))
    assert titles == [f"{implementation.base.name[:30]}：已申报（待预审）", f"{implementation.base.name[:30]}：已受理"]


def test_the_open_cases_index_covers_exactly_the_open_states():
    index = next(i for i in Case._meta.indexes if i.name == "case_department_open")
    (lookup, states) = index.condition.children[0]
    assert lookup == "state__in"
    assert set(states) == {s.value for s in machine.State} - {machine.State.DRAFT} - {s.value for s in machine.TERMINAL}
