"""我的办件 and 办件查询 through the test client against the real database: the list (a bundle as one
entry, keyset pages, what is asked of the applicant), a case in plain words (timeline, clock,
correction notice answered with corrected files and resubmitted once, supplement, withdrawal where
the law allows it, documents, pick-up), a message at every node, and following a case by code and
query password without signing in (an unknown code and a wrong password look the same)."""

from __future__ import annotations

import re
import time

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import STAFF_PASSWORD, staff_in
from tests.factories import impl_of
from tests.staff_support import console_sign_in
from tests.test_enterprises import signed_in_client
from tongban.cases import forms, machine, materials
from tongban.cases import services as cases
from tongban.cases.bundles import bundle_apply
from tongban.cases.models import Case, CaseDocument, CaseEvent
from tongban.catalog import services as catalog
from tongban.messaging.models import InboxItem
from tongban.web.portal.progress import day_text

PASSWORD = "cx2026ab"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
SCHEMA = {"type": "object", "properties": {"child": {"type": "string", "title": "新生儿姓名", "maxLength": 10}}, "required": ["child"]}


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _next_year_entered(db):
    """Limits counted from late in a year run into the next one: the operator has entered it."""
    import datetime as dt

    from tongban.org import services as org

    year = timezone.localdate().year + 1
    org.calendar_year_set(actor=None, year=year, source="国务院办公厅节假日安排通知（测试）", complete=True)
    org.workday_override_set(actor=None, date=dt.date(year, 1, 1), is_workday=False, note="元旦")


@pytest.fixture
def implementation(mini, templates):
    impl = impl_of(mini.birth, mini.police_donghu)
    impl.legal_limit, impl.promised_limit = 20, 5
    impl.save()
    forms.application_form_save(actor=None, implementation=impl, schema=SCHEMA, layout={})
    return impl


@pytest.fixture
def company(mini, templates):
    """An item whose two materials are uploaded (no licence stands in for them)."""
    return impl_of(mini.company, mini.market_donghu)


@pytest.fixture
def market_clerk(mini):
    return staff_in(mini.market_donghu, "donghu-market", "东湖市场监管")


def applied(citizen, implementation, child: str = "张小宝") -> Case:
    return forms.case_apply(applicant=citizen, implementation=implementation, data={"child": child}, query_password=PASSWORD)


def submitted(citizen, implementation) -> Case:
    draft = cases.case_draft(applicant=citizen, implementation=implementation)
    return cases.case_submit(applicant=citizen, case_id=str(draft.public_id))


def step(clerk, case: Case, action: str, opinion: str = "", **extra) -> Case:
    case.refresh_from_db()
    return cases.case_act(actor=clerk, case_id=str(case.public_id), action=action, expected_version=case.version, opinion=opinion, **extra)


def correct(clerk, case: Case, *problems: tuple[str, str]) -> Case:
    case.refresh_from_db()
    return cases.correction_notice(
        actor=clerk,
        case_id=str(case.public_id),
        expected_version=case.version,
        problems=[{"material": m, "reason": r} for m, r in problems],
    )


# A path from a fresh submission into each state (clerk steps; opinions where the law asks for one).
PATHS: dict[str, list[tuple[str, str]]] = {
    "submitted": [],
    "correcting": [("correct", "")],
    "accepted": [("accept", "")],
    "refused": [("refuse", "不属于本部门职责")],
    "supplementing": [("accept", ""), ("ask_supplement", "请补充父母结婚证")],
    "suspended": [("accept", ""), ("suspend", "需要现场核实")],
    "decided": [("accept", ""), ("approve", "")],
    "concluded": [("accept", ""), ("approve", ""), ("conclude", "")],
    "delivered": [("accept", ""), ("approve", ""), ("conclude", ""), ("deliver", "")],
}


def into(state: str, citizen, implementation, clerk) -> Case:
    if state == "draft":
        return cases.case_draft(applicant=citizen, implementation=implementation)
    case = applied(citizen, implementation)
    for action, opinion in PATHS[state]:
        case = correct(clerk, case, ("出生医学证明", "照片不清晰")) if action == "correct" else step(clerk, case, action, opinion)
    assert case.state == state
    return case


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def text(html: str) -> str:
    """The page's words without tags (for phrases split by markup)."""
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    return re.sub(r"\s*([：（）、，。])\s*", r"\1", words)


def flashes(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", m) for m in re.findall(r'<p class="flash[^"]*"[^>]*>(.*?)</p>', html, re.S)]


# --- who may see what ---------------------------------------------------------------------------------


def _urls(case: Case) -> dict[str, tuple[str, dict]]:
    base = f"/my/cases/{case.public_id}/"
    return {
        "detail": ("get", {"path": base}),
        "receipt": ("get", {"path": base + "receipt/"}),
        "withdraw": ("post", {"path": base + "act/", "data": {"action": "withdraw", "version": case.version, "reason": "其他原因"}}),
        "upload": ("post", {"path": base + "materials/", "data": {}}),
    }


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_sign_in_and_change_nothing(citizen, implementation):
    case = applied(citizen, implementation)
    client = Client()
    assert client.get("/my/cases/").status_code == 302
    for name, (method, args) in _urls(case).items():
        response = getattr(client, method)(**args)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), name
    case.refresh_from_db()
    assert case.state == "submitted" and case.version == 2


@pytest.mark.django_db
def test_another_citizen_finds_nothing_and_changes_nothing(citizen, other_citizen, implementation):
    case = applied(citizen, implementation)
    stranger = signed_in_client(other_citizen)
    missing = "这个办件不存在，或不属于当前登录的账号"
    for name, (method, args) in _urls(case).items():
        response = getattr(stranger, method)(**args)
        assert response.status_code == 404 and missing in response.content.decode(), name
    unknown = stranger.get("/my/cases/00000000-0000-4000-8000-000000000000/")
    assert unknown.status_code == 404 and missing in unknown.content.decode()  # the same page as someone else's
    assert case.code not in page(stranger, "/my/cases/")
    case.refresh_from_db()
    assert case.state == "submitted" and case.version == 2


@pytest.mark.django_db
def test_staff_sessions_are_not_applicants(citizen, implementation, clerk, stranger):
    """The right department's clerk and another department's alike: these pages are the applicant's."""
    case = applied(citizen, implementation)
    for staff in (clerk, stranger):
        desk = Client()
        assert console_sign_in(desk, staff, STAFF_PASSWORD).status_code == 302
        for name, (method, args) in _urls(case).items():
            response = getattr(desk, method)(**args)
            assert response.status_code == 302 and response["Location"].startswith("/login/"), (staff.username, name)
    case.refresh_from_db()
    assert case.state == "submitted"


@pytest.mark.django_db
def test_the_applicant_sees_the_receipt_with_the_code(citizen, implementation):
    case = applied(citizen, implementation)
    html = page(signed_in_client(citizen), f"/my/cases/{case.public_id}/receipt/")
    assert len(case.code) == 43 and case.code in html and "查询密码" in html


# --- the list -----------------------------------------------------------------------------------------


def _rows(html: str) -> list[str]:
    listing = html.split('<ul class="case-list">', 1)[1].split("</ul>\n", 1)[0]
    return [text(r) for r in re.findall(r'<li class="card case-row[^"]*">(.*?)\n  </li>', listing, re.S)]


@pytest.mark.django_db
def test_the_list_shows_progress_and_marks_what_is_asked(citizen, implementation, clerk):
    made = {
        state: into(state, citizen, implementation, clerk) for state in ("draft", "submitted", "correcting", "supplementing", "concluded")
    }
    pickup = into("concluded", citizen, implementation, clerk)
    Case.objects.filter(pk=pickup.pk).update(delivery_method=Case.Delivery.WINDOW)
    html = page(signed_in_client(citizen), "/my/cases/")
    rows = _rows(html)
    assert len(rows) == 6
    newest_first = [pickup, made["concluded"], made["supplementing"], made["correcting"], made["submitted"], made["draft"]]
    for row, case in zip(rows, newest_first, strict=True):
        assert (case.code or "草稿，尚未提交") in row
    by_case = dict(zip([c.pk for c in newest_first], rows, strict=True))
    assert "需要您处理 请到办理窗口领取办理结果" in by_case[pickup.pk] and "第 4 步，共 4 步（办结）" in by_case[pickup.pk]
    assert "需要您处理" not in by_case[made["concluded"].pk] and "已办结，等待送达" in by_case[made["concluded"].pk]
    assert (
        "需要您处理 请按要求补齐材料" in by_case[made["supplementing"].pk]
        and "第 2 步，共 4 步（受理）" in by_case[made["supplementing"].pk]
    )
    assert "需要您处理 请按补正告知补正材料" in by_case[made["correcting"].pk] and "待补正" in by_case[made["correcting"].pk]
    assert "需要您处理" not in by_case[made["submitted"].pk] and "等待工作人员预审" in by_case[made["submitted"].pk]
    assert "需要您处理 申请尚未提交" in by_case[made["draft"].pk]
    assert "本页有 4 项办件需要您处理" in html
    assert "缴费" not in html  # nothing pretends to take a payment


@pytest.fixture
def birth_bundle(mini, templates):
    return catalog.bundle_save(
        actor=None,
        code="birth",
        name="出生一件事",
        audience="person",
        items=[{"item": mini.birth.code}, {"item": mini.card.code, "depends_on": [mini.birth.code]}],
    )


def _bundle(citizen, mini):
    application = bundle_apply(
        applicant=citizen,
        bundle_code="birth",
        implementations={mini.birth.code: impl_of(mini.birth, mini.police_donghu), mini.card.code: impl_of(mini.card, mini.hrss_province)},
    )
    parts = {c.implementation.base.code: c for c in Case.objects.filter(bundle_application=application)}
    return application, parts[mini.birth.code], parts[mini.card.code]


@pytest.mark.django_db
def test_a_bundle_is_one_entry_with_its_parts_and_one_status(citizen, implementation, clerk, mini, birth_bundle):
    single = applied(citizen, implementation)
    _, birth, card = _bundle(citizen, mini)
    browser = signed_in_client(citizen)
    rows = _rows(page(browser, "/my/cases/"))
    assert len(rows) == 2 and single.code in rows[1]
    bundle = rows[0]
    assert "一件事一次办 · 共 2 个事项" in bundle and "出生一件事" in bundle and "办理中 0/2 已办结" in bundle
    assert "出生登记（落户）：已申报（待预审）" in bundle and "社会保障卡申领：等待办理（等待前置事项办结后自动提交）" in bundle
    assert "需要您处理" not in bundle
    for action in ("accept", "approve", "conclude"):
        step(clerk, birth, action)
    card.refresh_from_db()
    assert card.state == "submitted"  # the dependent part started by itself
    step(clerk, card, "accept")
    step(clerk, card, "ask_supplement", "请补充新生儿照片")
    bundle = _rows(page(browser, "/my/cases/"))[0]
    assert "办理中 1/2 已办结" in bundle and "需要您处理 社会保障卡申领：请按要求补齐材料" in bundle
    step(citizen, card, "supplemented", actor_kind="applicant")
    for action in ("approve", "conclude"):
        step(clerk, card, action)
    bundle = _rows(page(browser, "/my/cases/"))[0]
    assert "已办结" in bundle and "办理中" not in bundle
    detail = text(page(browser, f"/my/cases/{card.public_id}/"))
    assert "一件事一次办：出生一件事" in detail and "出生登记（落户）：已办结" in detail and "社会保障卡申领（本事项）：已办结" in detail


@pytest.mark.django_db
def test_a_failed_prerequisite_ends_the_bundle_in_plain_words(citizen, clerk, mini, birth_bundle):
    _, birth, card = _bundle(citizen, mini)
    step(clerk, birth, "refuse", "材料不属于本部门")
    browser = signed_in_client(citizen)
    bundle = _rows(page(browser, "/my/cases/"))[0]
    assert "已结束（0/2 项办结）" in bundle
    detail = text(page(browser, f"/my/cases/{card.public_id}/"))
    assert "系统：撤回申请" in detail and "因前置事项未通过，本事项已自动撤回" in detail


@pytest.mark.django_db
def test_pages_are_keyset_and_a_bundle_is_never_split(citizen, implementation, mini, birth_bundle):
    older = [submitted(citizen, implementation) for _ in range(2)]
    _bundle(citizen, mini)  # its two cases are the 20th and 21st newest: the page boundary runs through them
    newer = [submitted(citizen, implementation) for _ in range(19)]
    browser = signed_in_client(citizen)
    first_html = page(browser, "/my/cases/")
    first = _rows(first_html)
    cursor = re.search(r'\?cursor=([^"]+)"', first_html).group(1)
    second = _rows(page(browser, f"/my/cases/?cursor={cursor}"))
    everything = first + second
    assert sum("出生一件事" in r for r in everything) == 1
    for case in [*older, *newer]:
        assert sum(case.code in r for r in everything) == 1, case.code
    assert newer[-1].code in first[0] and older[0].code in second[-1]
    assert "查看更早的办件" not in page(browser, f"/my/cases/?cursor={cursor}")
    bad = browser.get("/my/cases/?cursor=not-a-cursor")
    assert bad.status_code == 400 and "翻页参数无效" in bad.content.decode()


@pytest.mark.django_db
def test_the_list_costs_the_same_queries_for_few_and_many_cases(citizen, implementation, mini, birth_bundle):
    browser = signed_in_client(citizen)
    applied(citizen, implementation)
    _bundle(citizen, mini)
    browser.get("/my/cases/")  # warm the per-process caches
    with CaptureQueriesContext(connection) as few:
        assert browser.get("/my/cases/").status_code == 200
    for _ in range(6):
        submitted(citizen, implementation)
    _bundle(citizen, mini)
    with CaptureQueriesContext(connection) as many:
        assert browser.get("/my/cases/").status_code == 200
    assert len(many) == len(few)


# --- one case in plain words ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_timeline_and_clock_are_plain_chinese_without_codes(citizen, implementation, clerk):
    case = applied(citizen, implementation)
    browser = signed_in_client(citizen)
    url = f"/my/cases/{case.public_id}/"
    before = text(page(browser, url))
    deadline = cases.pre_review_deadline(case)
    assert f"东湖区公安局将在{day_text(deadline)}前完成预审" in before and "您：提交申请" in before
    case = step(clerk, case, "accept")
    html = page(browser, url)
    words = text(html)
    assert f"东湖区公安局：受理 您的申请已由东湖区公安局受理，法定办结期限至{day_text(case.due_legal)}。" in words
    assert f"承诺 5 个工作日内办结，预计{day_text(case.due_promised)}前" in words
    assert "第 2 步，共 4 步" in words
    case = step(clerk, case, "suspend", "组织听证", special_step=2)
    words = text(page(browser, url))
    assert "处于特别程序中，计时暂停" in words and "进入特别程序（听证），所需时间不计入办理期限" in words
    case = step(clerk, case, "resume")
    case = step(clerk, case, "extend", "情况复杂")
    words = text(page(browser, url))
    assert "特别程序结束，恢复计时" in words and "办理期限延长 10 个工作日。理由：情况复杂" in words
    assert "已依法批准延长 10 个工作日" in words and f"法定办结期限：{day_text(case.due_legal)}" in words
    for word in ("环节结果", "办结结果", "step_result", "conclusion", "accept", "特别程序（挂起）"):
        assert word not in words, word


@pytest.mark.django_db
def test_a_message_reaches_the_inbox_at_every_node(citizen, implementation, clerk):
    case = applied(citizen, implementation)
    nodes = [("submit", "已申报（待预审）")]
    for action in ("accept", "approve", "conclude", "deliver"):
        case = step(clerk, case, action)
        nodes.append((action, machine.LABELS[machine.State(case.state)]))
    items = list(InboxItem.objects.filter(account=citizen).order_by("id"))
    assert [i.title for i in items] == [f"出生登记（落户）：{label}" for _, label in nodes]
    assert {i.link for i in items} == {f"/my/cases/{case.public_id}/"}
    assert CaseEvent.objects.filter(case=case).count() == len(nodes)
    inbox = page(signed_in_client(citizen), "/my/messages/")
    assert "出生登记（落户）：已送达" in inbox


@pytest.mark.django_db
def test_pick_up_at_a_window_and_a_fee_placeholder(citizen, implementation, clerk):
    implementation.fee_required = True
    implementation.save()
    case = applied(citizen, implementation)
    Case.objects.filter(pk=case.pk).update(delivery_method=Case.Delivery.WINDOW)
    for action in ("accept", "approve", "conclude"):
        case = step(clerk, case, action)
    words = text(page(signed_in_client(citizen), f"/my/cases/{case.public_id}/"))
    assert "需要您处理 请到办理窗口领取办理结果" in words
    assert f"领取地点 {implementation.place}" in words and f"办公时间 {implementation.hours}" in words
    assert f"办理完毕。请到{implementation.place}领取办理结果" in words
    assert "网上缴费功能即将开通" in words and "结果送达方式 窗口领取" in words


@pytest.mark.django_db
def test_documents_link_to_the_file_only_its_applicant_opens(citizen, other_citizen, implementation, clerk):
    case = into("concluded", citizen, implementation, clerk)
    stored = materials.store_file(upload=SimpleUploadedFile("准予登记决定书.pdf", PDF), owner=None, uploaded_by=clerk)
    CaseDocument.objects.create(case=case, kind=CaseDocument.Kind.RESULT, title="准予登记决定书", file=stored, created_by=clerk)
    browser = signed_in_client(citizen)
    words = text(page(browser, f"/my/cases/{case.public_id}/"))
    assert "办理结果：准予登记决定书" in words
    link = f"/files/{stored.public_id}/"
    assert f'href="{link}"' in page(browser, f"/my/cases/{case.public_id}/")
    download = browser.get(link)
    assert download.status_code == 200 and b"".join(download.streaming_content).startswith(b"%PDF")
    assert signed_in_client(other_citizen).get(link).status_code == 404


# --- what the applicant does --------------------------------------------------------------------------


def _with_materials(citizen, company) -> Case:
    """An application made online with both of its materials uploaded."""
    draft = cases.case_draft(applicant=citizen, implementation=company)
    for slot in materials.material_slots(draft):
        materials.material_attach(actor=citizen, case=draft, material_id=slot.id, upload=SimpleUploadedFile(f"{slot.name}.pdf", PDF))
    return cases.case_submit(applicant=citizen, case_id=str(draft.public_id))


@pytest.mark.django_db
def test_a_correction_is_answered_with_corrected_files_and_resubmitted_once(citizen, company, market_clerk):
    case = _with_materials(citizen, company)
    slots = {s.name: s for s in materials.material_slots(case)}
    case = correct(market_clerk, case, ("公司登记（备案）申请书", "未签字"), ("公司章程", "缺少第二页"))
    browser = signed_in_client(citizen)
    url = f"/my/cases/{case.public_id}/"
    html = page(browser, url)
    words = text(html)
    assert "需要您处理 请按补正告知补正材料，然后重新提交。" in words
    assert "公司登记（备案）申请书：未签字" in words and "公司章程：缺少第二页" in words
    assert words.count("尚未上传补正后的文件") == 2
    act = f"{url}act/"
    early = browser.post(act, {"action": "resubmit", "version": case.version}, follow=True)
    assert "请先为以下材料上传补正后的文件，再重新提交：公司登记（备案）申请书、公司章程。" in flashes(early.content.decode())
    case.refresh_from_db()
    assert case.state == "correcting"
    uploads = {f"file-{s.id}": SimpleUploadedFile(f"{name}（补正）.pdf", PDF) for name, s in slots.items()}
    done = browser.post(f"{url}materials/", uploads, follow=True)
    assert done.status_code == 200 and "已上传" in flashes(done.content.decode())[0]
    words = text(page(browser, url))
    assert "尚未上传补正后的文件" not in words and words.count("已上传补正文件") == 2
    response = browser.post(act, {"action": "resubmit", "version": case.version}, follow=True)
    assert "已重新提交，请等待工作人员预审。" in flashes(response.content.decode())
    case.refresh_from_db()
    assert (case.state, case.submission_round) == ("submitted", 2)
    again = browser.post(act, {"action": "resubmit", "version": case.version}, follow=True)
    assert any("当前状态（已申报（待预审））下不能执行这一步" in f for f in flashes(again.content.decode()))
    case.refresh_from_db()
    assert (case.state, case.submission_round) == ("submitted", 2)
    assert CaseEvent.objects.filter(case=case, action="resubmit").count() == 1
    steps = [i.title for i in InboxItem.objects.filter(account=citizen).order_by("id")]
    assert steps[-2:] == ["企业设立登记（有限责任公司）：待补正", "企业设立登记（有限责任公司）：已申报（待预审）"]
    words = text(page(browser, url))
    assert "您：提交补正材料 您已提交补正材料，等待东湖区市场监管局重新预审。" in words


@pytest.mark.django_db
def test_a_file_added_during_correction_can_be_removed_but_not_the_submitted_ones(citizen, company, market_clerk):
    case = _with_materials(citizen, company)
    case = correct(market_clerk, case, ("公司章程", "缺少第二页"))
    slot = next(s for s in materials.material_slots(case) if s.name == "公司章程")
    browser = signed_in_client(citizen)
    url = f"/my/cases/{case.public_id}/materials/"
    browser.post(url, {f"file-{slot.id}": SimpleUploadedFile("章程.pdf", PDF)})
    added = list(next(s for s in materials.material_slots(case) if s.name == "公司章程").files)
    assert len(added) == 2
    refused = browser.post(url, {"remove": str(added[0].public_id)}, follow=True)
    assert any("已提交过的材料不能删除" in f for f in flashes(refused.content.decode()))
    removed = browser.post(url, {"remove": str(added[1].public_id)}, follow=True)
    assert "已删除该文件。" in flashes(removed.content.decode())
    nothing = browser.post(url, {}, follow=True)
    assert "请先选择要上传的文件。" in flashes(nothing.content.decode())
    fake = browser.post(url, {f"file-{slot.id}": SimpleUploadedFile("章程.pdf", b"<html>not a pdf</html>")}, follow=True)
    assert any(f.startswith("章程.pdf：") for f in flashes(fake.content.decode()))
    assert len(next(s for s in materials.material_slots(case) if s.name == "公司章程").files) == 1


@pytest.mark.django_db
def test_a_supplement_during_review(citizen, company, market_clerk):
    case = _with_materials(citizen, company)
    case = step(market_clerk, case, "accept")
    case = step(market_clerk, case, "ask_supplement", "请补充股东会决议")
    browser = signed_in_client(citizen)
    url = f"/my/cases/{case.public_id}/"
    words = text(page(browser, url))
    assert "需要您处理 请按要求补齐材料，然后提交。" in words and "在审查中要求补齐：请补充股东会决议" in words
    slot = materials.material_slots(case)[0]
    browser.post(f"{url}materials/", {f"file-{slot.id}": SimpleUploadedFile("决议.pdf", PDF)})
    response = browser.post(f"{url}act/", {"action": "supplemented", "version": case.version + 0}, follow=True)
    assert "已提交补齐的材料，请等待工作人员审查。" in flashes(response.content.decode())
    case.refresh_from_db()
    assert case.state == "accepted"
    assert "您：提交补齐材料" in text(page(browser, url))


WITHDRAWABLE = {s.value for s in machine.TRANSITIONS["withdraw"].source}


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["submitted", "correcting", "accepted", "supplementing", "suspended", "decided", "concluded", "refused"])
def test_withdrawal_only_where_the_law_allows_it(state, citizen, implementation, clerk):
    case = into(state, citizen, implementation, clerk)
    browser = signed_in_client(citizen)
    url = f"/my/cases/{case.public_id}/"
    html = page(browser, url)
    allowed = state in WITHDRAWABLE
    assert ('name="action" value="withdraw"' in html) == allowed
    if allowed:
        assert "撤回原因（必选）" in html and "确认撤回" in html and "不能恢复" in html
    response = browser.post(
        f"{url}act/",
        {"action": "withdraw", "version": case.version, "reason": "不再需要办理", "reason_detail": "孩子随母亲落户"},
        follow=True,
    )
    notes = flashes(response.content.decode())
    case.refresh_from_db()
    if allowed:
        assert case.state == "withdrawn" and "申请已撤回。" in notes
        event = CaseEvent.objects.get(case=case, action="withdraw")
        assert event.opinion == "不再需要办理：孩子随母亲落户" and event.actor == citizen
        words = text(page(browser, url))
        assert "您：撤回申请 您撤回了申请。原因：不再需要办理：孩子随母亲落户" in words and "确认撤回" not in words
        assert InboxItem.objects.filter(account=citizen, title="出生登记（落户）：已撤回").exists()
    else:
        assert case.state == state and any("下不能执行这一步" in n for n in notes)


@pytest.mark.django_db
def test_a_draft_can_be_discarded_and_unknown_actions_are_refused(citizen, implementation):
    draft = cases.case_draft(applicant=citizen, implementation=implementation)
    browser = signed_in_client(citizen)
    html = page(browser, f"/my/cases/{draft.public_id}/")
    assert "继续填写" in html and "放弃这份草稿" in html and "撤回原因" not in html
    assert browser.post(f"/my/cases/{draft.public_id}/act/", {"action": "accept", "version": draft.version}).status_code == 404
    browser.post(f"/my/cases/{draft.public_id}/act/", {"action": "withdraw", "version": draft.version, "reason": "不再需要办理"})
    draft.refresh_from_db()
    assert draft.state == "withdrawn" and not InboxItem.objects.filter(account=citizen).exists()  # no code, no node to report


# --- following a case by code and query password ------------------------------------------------------


def _fresh_window(needed: float = 20.0) -> None:
    """Rate limits count in fixed one-minute windows: start a burst where it cannot straddle two."""
    left = 60 - time.time() % 60
    if left < needed:
        time.sleep(left + 0.2)


def _lookup(client: Client, code: str, password: str, address: str = "10.0.0.1"):
    return client.post("/cases/lookup/", {"code": code, "password": password}, REMOTE_ADDR=address)


def _answer(response) -> str:
    """The page without what the visitor typed back and the per-request CSRF token."""
    html = response.content.decode()
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return re.sub(r'id="code" name="code" type="text" value="[^"]*"', "", html)


@pytest.mark.django_db
def test_lookup_shows_the_plain_timeline_without_personal_data(citizen, implementation, clerk):
    case = applied(citizen, implementation)
    case = correct(clerk, case, ("出生医学证明", "照片不清晰，请张晓明本人重新拍摄"))
    case = step(citizen, case, "resubmit", actor_kind="applicant")
    case = step(clerk, case, "accept")
    response = _lookup(Client(), case.code, PASSWORD)
    assert response.status_code == 200
    words = text(response.content.decode())
    assert "申请人 张**" in words and "办理部门 东湖区公安局" in words and "办理状态 已受理" in words
    assert "申请人：提交申请" in words and "东湖区公安局：一次性告知补正" in words and "申请人：提交补正材料" in words
    assert f"申请已由东湖区公安局受理，法定办结期限至{day_text(case.due_legal)}" in words
    for private in ("张晓明", "张小宝", citizen.mobile, citizen.id_number, "照片不清晰", "您"):
        assert private not in words, private


@pytest.mark.django_db
def test_lookup_answers_a_wrong_password_and_an_unknown_code_alike(citizen, implementation):
    case = applied(citizen, implementation)
    client = Client()
    wrong = _lookup(client, case.code, "wrong-one")
    unknown = _lookup(client, "9" * 43, PASSWORD)
    empty = _lookup(client, "", "")
    assert wrong.status_code == unknown.status_code == empty.status_code == 400
    assert _answer(wrong) == _answer(unknown) == _answer(empty)
    assert "办件编号或查询密码不正确，请核对后重新输入。" in wrong.content.decode()


@pytest.mark.django_db
def test_lookup_is_limited_per_address_and_per_code(citizen, implementation):
    case = applied(citizen, implementation)
    client = Client()
    # One code guessed from many addresses: after 20 tries a minute, every address is refused for it,
    # and an unknown code is limited the same way (nothing tells them apart).
    for code in (case.code, "8" * 43):
        _fresh_window()
        statuses = [_lookup(client, code, f"guess-{i}", address=f"10.1.0.{i}").status_code for i in range(21)]
        assert statuses == [400] * 20 + [429]
        assert _lookup(client, code, PASSWORD, address="10.2.0.1").status_code == 429
    # Many codes from one address: the address limit.
    _fresh_window()
    statuses = [_lookup(client, f"{i:043d}", "x", address="10.3.0.1").status_code for i in range(21)]
    assert statuses == [400] * 20 + [429]
    assert "查询太频繁，请一分钟后再试。" in _lookup(client, case.code, PASSWORD, address="10.3.0.1").content.decode()
    assert _lookup(client, "7" * 43, PASSWORD, address="10.4.0.1").status_code == 400  # others are unaffected
