"""A whole application on a 360 × 740 phone, in headless Chromium: a citizen finds the item from the
home page, reads the guide, signs in, fills the steps (the identity fields locked), uploads the
material the item asks for, signs the commitment, sets a query password and submits; a clerk
accepts, approves and concludes it in the workbench (real pages, a second browser context); the
citizen sees 已办结 in 我的办件 with the timeline, and anyone with the code and the password can
follow it without signing in. axe-core runs on every citizen page, and no page scrolls sideways."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.cache import cache
from playwright.sync_api import Browser, Page, expect

from tests import factories as f
from tests.browser.conftest import Site
from tests.conftest import CITIZEN_PASSWORD, STAFF_PASSWORD
from tests.staff_support import fresh_code
from tongban.cases import forms
from tongban.cases.models import Case

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
DESK = {"width": 1280, "height": 800}
HEAVY_IMPACTS = {"serious", "critical"}
ITEM = "居住证申领"
QUERY_PASSWORD = "jzz-2026"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "申请人姓名"},
        "id_number": {"type": "string", "title": "公民身份号码"},
        "address": {"type": "string", "title": "居住地址", "maxLength": 100},
        "reason": {"type": "string", "title": "居住事由", "enum": ["就业", "就学", "投亲"]},
    },
    "required": ["name", "id_number", "address", "reason"],
}
LAYOUT = {
    "steps": [{"title": "申请人", "fields": ["name", "id_number"]}, {"title": "居住信息", "fields": ["address", "reason"]}],
    "fields": {"name": {"prefill": "name"}, "id_number": {"prefill": "id_number"}},
    "commitment": True,
}


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def residence(mini, templates):
    """居住证申领 at 东湖区公安局: an online form in two steps, one material to upload and one
    the identity-card licence fills."""
    item = f.published_item(
        "070100003000",
        ITEM,
        [mini.police_donghu],
        aliases=["办居住证"],
        materials=[
            {"name": "居住证明", "source": "applicant", "notes": "租房合同、房产证明或单位证明之一"},
            {"name": "居民身份证", "source": "shared", "license_type": "居民身份证"},
        ],
    )
    impl = f.impl_of(item, mini.police_donghu)
    impl.legal_limit, impl.promised_limit = 15, 5
    impl.save()
    forms.application_form_save(actor=None, implementation=impl, schema=SCHEMA, layout=LAYOUT)
    return impl


@pytest.fixture
def verified(citizen):
    citizen.real_name_level = 2
    citizen.save(update_fields=["real_name_level"])
    return citizen


@contextmanager
def tab(browser: Browser, live_server, name: str, viewport: dict[str, int]) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    # A shared two-core machine: the first render of a page (templates, search facts) can be slow
    # while other suites run; a person would wait too.
    context.set_default_timeout(20_000)
    context.set_default_navigation_timeout(30_000)
    site = Site(context.new_page(), live_server.url, "phone" if viewport is PHONE else "desktop", name)
    try:
        yield site
    finally:
        context.close()
    assert site.problems == [], site.problems


# The elements that stick out on the right, for the message of a failing check.
WIDE = """() => [...document.querySelectorAll('body *')]
  .filter(el => el.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
  .map(el => el.outerHTML.slice(0, 80)).slice(0, 5)"""


def checked(site: Site, name: str) -> Page:
    """What every citizen page must be: no serious axe violation, nothing wider than the phone."""
    page = site.page
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], (f"{name}: the page scrolls sideways ({width} px)", page.evaluate(WIDE))
    violations = [v for v in Axe().run(page).response["violations"] if v["impact"] in HEAVY_IMPACTS]
    assert violations == [], (name, [(v["id"], [n["target"] for n in v["nodes"]]) for v in violations])
    site.shot(f"journey-{name}")
    return page


def apply_online(site: Site, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """From the home page to the receipt; returns the registration code shown."""
    page = site.go("/")
    checked(site, "home")
    page.get_by_label("输入事项名称或平常的说法").fill("办居住证")
    page.get_by_role("button", name="搜索").click()
    expect(page.locator(".result").first.get_by_role("link")).to_have_text(ITEM)
    checked(site, "search")
    page.locator(".result").first.get_by_role("link", name=ITEM).click()
    if site.path().startswith("/services/"):  # a county item seen from the province: choose the place
        page.locator(".choice").filter(has_text="东湖区").click()
    assert site.path().startswith("/guide/")
    expect(page.get_by_role("heading", level=1)).to_have_text(ITEM)
    checked(site, "guide")
    page.get_by_role("link", name=re.compile("在线申请")).first.click()

    # Applying needs a signed-in citizen: the sign-in page brings them back to the form.
    assert site.path().startswith("/login/")
    page.get_by_label("用户名").fill("zhangxm")
    page.get_by_label("密码").fill(CITIZEN_PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    assert site.path().startswith("/apply/")

    expect(page.locator(".apply-progress")).to_contain_text("第 1 步")
    name = page.get_by_label("申请人姓名")
    expect(name).to_have_value("张晓明")
    expect(name).to_have_attribute("readonly", "")  # filled from the verified identity, locked
    expect(page.get_by_label("公民身份号码")).to_have_attribute("readonly", "")
    checked(site, "apply-1")
    page.get_by_role("button", name="下一步").click()

    expect(page.locator(".apply-progress")).to_contain_text("第 2 步")
    page.get_by_role("button", name="下一步").click()  # nothing filled: told what to fix, next to the field
    expect(page.locator(".error-summary")).to_contain_text("请填写居住地址")
    checked(site, "apply-2-errors")
    page.get_by_label("居住地址").fill("南昌市东湖区八一大道 100 号")
    page.get_by_label("居住事由").select_option("就业")
    page.get_by_role("button", name="下一步").click()

    # The materials step: upload what the item asks for; the identity-card licence fills the other.
    expect(page.locator(".apply-progress")).to_contain_text("第 3 步，共 3 步：上传申请材料")
    expect(page.get_by_text("将从电子证照自动获取")).to_be_visible()
    proof = tmp_path / "租房合同.pdf"
    proof.write_bytes(PDF)
    slot = page.locator("section", has=page.get_by_role("heading", name=re.compile("居住证明")))
    slot.get_by_label("选择文件").set_input_files(str(proof))
    checked(site, "apply-materials")
    page.get_by_role("button", name="上传所选文件").click()
    slot = page.locator("section", has=page.get_by_role("heading", name=re.compile("居住证明")))
    expect(slot).to_contain_text("已上传 1 个文件")
    expect(slot.get_by_role("link", name="租房合同.pdf")).to_be_visible()
    page.get_by_label("我已阅读并承诺以上内容").check()
    page.get_by_label("设置查询密码").fill(QUERY_PASSWORD)
    checked(site, "apply-last")
    page.get_by_role("button", name="提交申请").click()

    assert re.fullmatch(r"/my/cases/[0-9a-f-]{36}/receipt/", site.path()), site.path()
    expect(page.get_by_text("申请已提交")).to_be_visible()
    code = (page.locator(".case-code").first.text_content() or "").strip()
    assert re.fullmatch(r"[0-9A-Z]{43}", code), code
    checked(site, "receipt")
    return code


def clerk_handles(browser: Browser, live_server, clerk, code: str) -> None:  # type: ignore[no-untyped-def]
    """The clerk signs in to the workbench and accepts, approves and concludes the case."""
    with tab(browser, live_server, "clerk", DESK) as desk:
        page = desk.go("/console/login")
        page.locator("input[name=username]").fill(clerk.username)
        page.locator("input[name=password]").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="下一步").click()
        page.locator("input[name=code]").fill(fresh_code(clerk))
        page.get_by_role("button", name="登录").click()
        page = desk.go("/workbench/")
        page.get_by_role("link", name=re.compile(code)).first.click()
        expect(page.get_by_role("heading", level=1)).to_have_text(ITEM)
        claim = page.get_by_role("button", name="认领", exact=True)
        if claim.count():
            claim.click()
        steps = [("受理", "已受理"), ("准予许可", "已决定"), ("办结", "已办结")]
        for button, state in steps:
            page.locator("form.wb-action").get_by_role("button", name=re.compile(f"^{button}")).first.click()
            expect(page.locator(".meta").first).to_contain_text(f"状态：{state}")
        desk.shot("journey-workbench-concluded")


def test_a_whole_application_on_a_phone(browser, live_server, transactional_db, residence, verified, clerk, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with tab(browser, live_server, "citizen", PHONE) as phone:
        code = apply_online(phone, tmp_path)
        case = Case.objects.get(code=code)
        assert case.state == "submitted" and case.applicant == verified
        assert case.form_data["name"] == "张晓明" and case.commitment_signed_at is not None

        page = phone.go("/my/cases/")
        row = page.locator(".case-row", has_text=code)
        expect(row).to_contain_text("已申报（待预审）")
        expect(row).to_contain_text("等待工作人员预审")
        checked(phone, "my-cases-submitted")

        clerk_handles(browser, live_server, clerk, code)

        page = phone.go("/my/cases/")
        row = page.locator(".case-row", has_text=code)
        expect(row).to_contain_text("已办结")
        expect(row).to_contain_text("第 4 步，共 4 步")
        checked(phone, "my-cases-concluded")
        row.get_by_role("link").first.click()
        timeline = page.locator("ol.timeline > li")
        expect(timeline).to_have_count(4)
        expect(timeline.nth(0)).to_contain_text("您：提交申请")
        expect(timeline.nth(1)).to_contain_text("东湖区公安局：受理")
        expect(timeline.nth(1)).to_contain_text("法定办结期限至")
        expect(timeline.nth(2)).to_contain_text("东湖区公安局作出准予许可的决定")
        expect(timeline.nth(3)).to_contain_text("办理完毕")
        expect(page.locator(".case-summary")).to_contain_text("已办结")
        expect(page.get_by_role("heading", name="申请材料")).to_be_visible()
        expect(page.locator("main")).to_contain_text("110105********002X")  # the ID number masked
        expect(page.locator("main")).not_to_contain_text(verified.id_number)
        expect(page.get_by_text("撤回原因")).to_have_count(0)  # nothing left to withdraw
        checked(phone, "my-case-concluded")

        messages = phone.go("/my/messages/")
        expect(messages.locator("main")).to_contain_text(f"{ITEM}：已办结")

    # Someone without an account (a relative) follows the case by code and query password.
    with tab(browser, live_server, "lookup", PHONE) as anyone:
        page = anyone.go("/cases/lookup/")
        checked(anyone, "lookup")
        page.get_by_label("办件编号").fill(code)
        page.get_by_label("查询密码").fill("wrong-pass")
        page.get_by_role("button", name="查询").click()
        expect(page.get_by_role("alert")).to_contain_text("办件编号或查询密码不正确")
        page.get_by_label("查询密码").fill(QUERY_PASSWORD)
        page.get_by_role("button", name="查询").click()
        result = page.locator(".lookup-result")
        expect(result).to_contain_text("已办结")
        expect(result).to_contain_text("张**")
        expect(result).not_to_contain_text("张晓明")
        expect(result.locator("ol.timeline > li")).to_have_count(4)
        checked(anyone, "lookup-found")


def _submitted_with_proof(citizen, impl, tmp_path) -> Case:  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tongban.cases import materials
    from tongban.cases import services as cases

    draft = cases.case_draft(applicant=citizen, implementation=impl)
    slot = next(s for s in materials.material_slots(draft) if s.name == "居住证明")
    materials.material_attach(actor=citizen, case=draft, material_id=slot.id, upload=SimpleUploadedFile("租房合同.pdf", PDF))
    return cases.case_submit(applicant=citizen, case_id=str(draft.public_id))


def test_answer_a_correction_and_withdraw_on_a_phone(browser, live_server, transactional_db, residence, verified, clerk, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tongban.cases import services as cases

    to_correct = _submitted_with_proof(verified, residence, tmp_path)
    cases.correction_notice(
        actor=clerk,
        case_id=str(to_correct.public_id),
        expected_version=to_correct.version,
        problems=[{"material": "居住证明", "reason": "租房合同已过期，请提供在有效期内的合同"}],
    )
    to_withdraw = _submitted_with_proof(verified, residence, tmp_path)
    with tab(browser, live_server, "correction", PHONE) as phone:
        page = phone.go("/my/cases/")
        assert phone.path().startswith("/login/")
        page.get_by_label("用户名").fill("zhangxm")
        page.get_by_label("密码").fill(CITIZEN_PASSWORD)
        page.get_by_role("button", name="登录", exact=True).click()
        assert phone.path() == "/my/cases/"
        expect(page.locator(".callout")).to_contain_text("本页有 1 项办件需要您处理")
        row = page.locator(".case-row", has_text=to_correct.code)
        expect(row).to_contain_text("需要您处理 请按补正告知补正材料，然后重新提交。")
        checked(phone, "my-cases-asks")
        row.get_by_role("link").first.click()

        asks = page.get_by_role("region", name="需要您处理")
        expect(asks).to_contain_text("请按补正告知补正材料")
        notice = page.locator("#correction")
        expect(notice).to_contain_text("居住证明：租房合同已过期，请提供在有效期内的合同")
        expect(notice).to_contain_text("尚未上传补正后的文件")
        checked(phone, "my-case-correction")
        notice.get_by_role("button", name="已补正，重新提交").click()
        expect(page.locator(".flash").first).to_contain_text("请先为以下材料上传补正后的文件，再重新提交：居住证明。")
        fixed = tmp_path / "新租房合同.pdf"
        fixed.write_bytes(PDF)
        page.get_by_label("居住证明：选择补正后的文件").set_input_files(str(fixed))
        page.get_by_role("button", name="上传所选文件").click()
        expect(page.locator(".flash").first).to_contain_text("已上传“新租房合同.pdf”")
        expect(page.locator("#correction")).to_contain_text("已上传补正文件")
        checked(phone, "my-case-corrected")
        page.locator("#correction").get_by_role("button", name="已补正，重新提交").click()
        expect(page.locator(".flash").first).to_contain_text("已重新提交，请等待工作人员预审。")
        expect(page.locator(".case-summary")).to_contain_text("已申报（待预审）")
        expect(page.locator("ol.timeline > li").last).to_contain_text("您：提交补正材料")
        to_correct.refresh_from_db()
        assert (to_correct.state, to_correct.submission_round) == ("submitted", 2)

        page = phone.go(f"/my/cases/{to_withdraw.public_id}/")
        page.get_by_text("撤回申请", exact=True).click()  # the summary opens the confirmation
        expect(page.get_by_text("撤回后本次申请即结束，不能恢复")).to_be_visible()
        checked(phone, "my-case-withdraw")
        page.get_by_text("改为到窗口办理", exact=True).click()
        page.get_by_label("补充说明（选填）").fill("周末去大厅办")
        page.get_by_role("button", name="确认撤回").click()
        expect(page.locator(".flash").first).to_contain_text("申请已撤回。")
        expect(page.locator(".case-summary")).to_contain_text("已撤回")
        expect(page.locator("ol.timeline > li").last).to_contain_text("您撤回了申请。原因：改为到窗口办理：周末去大厅办")
        checked(phone, "my-case-withdrawn")


# What a finger presses on these pages: buttons, the labels of radios and checkboxes (their small
# inputs sit inside the label), text fields, and the summary that opens the withdrawal. File
# inputs are left out: the portal's stylesheet does not size them yet (see the report).
CONTROLS = "main button, main .button, main summary, main .check label, main textarea, main input[type=text], main input[type=password]"


def small_controls(page: Page, minimum: float) -> list[str]:
    return page.evaluate(
        """([selector, minimum]) => [...document.querySelectorAll(selector)]
            .filter(el => el.getClientRects().length && el.getBoundingClientRect().height < minimum)
            .map(el => el.outerHTML.slice(0, 80))""",
        [CONTROLS, minimum - 0.5],
    )


def test_case_pages_in_care_mode(browser, live_server, transactional_db, residence, verified, clerk, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """长辈模式: the same pages with big text and finger-sized controls."""
    from tests.browser.test_portal import smallest_main_text
    from tongban.cases import services as cases

    case = _submitted_with_proof(verified, residence, tmp_path)
    cases.correction_notice(
        actor=clerk, case_id=str(case.public_id), expected_version=case.version, problems=[{"material": "居住证明", "reason": "看不清"}]
    )
    with tab(browser, live_server, "care", PHONE) as phone:
        page = phone.go("/login/?next=/my/cases/")
        page.locator(".care-switch button").click()
        page.get_by_label("用户名").fill("zhangxm")
        page.get_by_label("密码").fill(CITIZEN_PASSWORD)
        page.get_by_role("button", name="登录", exact=True).click()
        assert phone.path() == "/my/cases/"
        for path, name in (("/my/cases/", "care-my-cases"), (f"/my/cases/{case.public_id}/", "care-my-case")):
            page = phone.go(path)
            expect(page.locator("body")).to_have_class(re.compile(r"\bcare\b"))
            assert smallest_main_text(page) >= 18, path
            assert small_controls(page, 60) == [], path
            checked(phone, name)
