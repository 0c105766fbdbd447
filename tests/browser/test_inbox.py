"""消息 as a citizen uses it: sign in through the form, see the badge, open a message, archive it,
change a preference. Phone (360 × 780) and desktop (1280 × 800), normal and 长辈模式, with axe."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.cache import cache
from django.db import transaction
from playwright.sync_api import Page, expect

from tests.browser.conftest import Site, open_site
from tests.browser.test_portal import smallest_main_text
from tests.conftest import CITIZEN_PASSWORD
from tongban.messaging import services as messaging
from tongban.messaging.models import Category, InboxItem, Preference

pytestmark = pytest.mark.browser

HEAVY_IMPACTS = {"serious", "critical"}


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Sign-in attempts are counted per address per minute: every test starts at zero."""
    cache.clear()
    yield
    cache.clear()


def send(account, item: str, step: str, link: str = "/services") -> InboxItem:
    with transaction.atomic():
        message = messaging.message_send(
            recipient=account,
            template="case-progress",
            data={"item": item, "case_code": "ABC-1", "step": step, "link": link},
            reason="test",
        )
    return InboxItem.objects.get(message=message)


@pytest.fixture
def two_messages(citizen, templates) -> list[InboxItem]:
    return [send(citizen, "出生登记（落户）", "受理"), send(citizen, "社会保障卡申领", "办结")]


def nav(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("navigation", name="主导航")


def sign_in(site: Site, start: str = "/") -> Page:
    page = site.go(start)
    if not site.path().startswith("/login/"):  # a signed-in page sends the visitor there itself
        page.locator(".site-header").get_by_role("link", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("登录通办")
    page.get_by_label("用户名").fill("zhangxm")
    page.get_by_label("密码").fill(CITIZEN_PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.locator(".account-name")).to_contain_text("张**")
    return page


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not rendered"
    return found


def assert_header_fits(page: Page) -> None:
    """Nothing sticks out sideways, and the brand, the sign-in and the care switch sit side by side."""
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), "page scrolls sideways"
    brand, account, switch = box(page, ".brand"), box(page, ".account"), box(page, ".care-switch")
    assert brand["x"] + brand["width"] <= account["x"] + 1
    assert account["x"] + account["width"] <= switch["x"] + 1
    assert abs(account["y"] - switch["y"]) < switch["height"], "one line"


def test_sign_in_see_the_badge_open_and_archive(site: Site, two_messages) -> None:
    page = site.go("/services")
    expect(nav(page).locator("[data-unread]")).to_have_count(0)
    page.locator(".site-header").get_by_role("link", name="登录").click()
    page.get_by_label("用户名").fill("zhangxm")
    page.get_by_label("密码").fill("wrong-password-1")
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("用户名或密码不正确")
    expect(page.get_by_label("用户名")).to_have_value("zhangxm")
    site.shot("login-error")
    page.get_by_label("密码").fill(CITIZEN_PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    assert site.path() == "/services", "back where the person started"
    expect(page.locator(".site-header")).to_contain_text("张**")
    expect(page.locator(".site-header").get_by_role("button", name="退出")).to_be_visible()

    messages_link = nav(page).get_by_role("link", name=re.compile("^消息"))
    expect(messages_link).to_have_accessible_name(re.compile(r"^消息\s*2\s*条未读$"))
    expect(messages_link.locator("[data-unread]")).to_have_text("2条未读")
    if site.viewport == "phone":
        assert box(page, ".nav")["y"] + box(page, ".nav")["height"] == pytest.approx(780, abs=1)
    messages_link.click()
    assert site.path() == "/my/messages/"
    expect(page.get_by_role("heading", level=1)).to_have_text("消息")
    rows = page.locator(".inbox-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("社会保障卡申领：办结")  # newest first
    expect(rows.first).to_contain_text("未读")
    expect(rows.first).to_contain_text("办件进度")
    expect(rows.first.locator("time")).to_have_text(re.compile(r"^(\d{4}年)?\d{1,2}月\d{1,2}日 \d{2}:\d{2}$"))
    site.shot("inbox")

    rows.first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("社会保障卡申领：办结")
    expect(page.locator(".message-body")).to_contain_text("办件编号 ABC-1")
    expect(page.get_by_role("link", name="查看详情")).to_have_attribute("href", "/services")
    expect(nav(page).locator("[data-unread]")).to_have_text("1条未读")  # opening it read it
    site.shot("message")
    page.get_by_role("button", name="归档").click()
    assert site.path() == "/my/messages/"
    expect(page.get_by_role("status")).to_contain_text("已归档")
    expect(page.locator(".inbox-row")).to_have_count(1)
    page.get_by_role("navigation", name="消息分组").get_by_role("link", name="已归档").click()
    expect(page.locator(".inbox-row")).to_have_count(1)
    expect(page.locator(".inbox-row")).to_contain_text("社会保障卡申领")
    page.locator(".inbox-row").click()
    page.get_by_role("button", name="移回收件箱").click()
    expect(page.get_by_role("status")).to_contain_text("已移回收件箱")

    page = site.go("/my/messages/")
    page.get_by_role("button", name="全部标为已读").click()
    expect(page.get_by_role("status")).to_contain_text("已将 1 条消息标为已读")
    expect(nav(page).locator("[data-unread]")).to_have_count(0)
    expect(page.get_by_role("button", name="全部标为已读")).to_have_count(0)

    page.locator(".site-header").get_by_role("button", name="退出").click()
    assert site.path() == "/"
    expect(page.get_by_role("status")).to_contain_text("您已退出登录")
    site.go("/my/messages/")
    assert site.path().startswith("/login/?next=")


def test_change_a_preference(site: Site, citizen) -> None:
    page = sign_in(site)
    site.go("/my/messages/settings/")
    expect(page.get_by_role("heading", level=1)).to_have_text("消息设置")
    expect(page.get_by_text("站内消息始终开启")).to_be_visible()
    security = page.get_by_role("group", name="账户安全")
    for label in ("短信", "电子邮件", "App推送"):
        expect(security.get_by_label(label)).to_be_checked()
        expect(security.get_by_label(label)).to_be_disabled()
    expect(security).to_contain_text("不能关闭")
    case = page.get_by_role("group", name="办件进度")
    defaults = messaging.DEFAULT_CHANNELS[Category.CASE_PROGRESS]
    for value, label in (("sms", "短信"), ("email", "电子邮件"), ("push", "App推送")):
        expect(case.get_by_label(label)).to_be_checked(checked=value in defaults)
    policy = page.get_by_role("group", name="政策推送")
    expect(policy.get_by_label("App推送")).not_to_be_checked()

    # By keyboard: focus the box, Space changes it.
    case.get_by_label("短信").focus()
    page.keyboard.press("Space")
    expect(case.get_by_label("短信")).to_be_checked(checked="sms" not in defaults)
    policy.get_by_label("App推送").click()
    page.get_by_label("开始时间").fill("22:00")
    page.get_by_role("button", name="保存设置").click()
    expect(page.get_by_role("alert")).to_contain_text("免打扰时段需要同时填写开始和结束时间")
    expect(page.get_by_label("开始时间")).to_have_value("22:00")
    expect(page.get_by_role("group", name="政策推送").get_by_label("App推送")).to_be_checked()
    site.shot("settings-error")
    assert not Preference.objects.filter(account=citizen).exists()

    page.get_by_label("结束时间").fill("07:00")
    page.get_by_role("button", name="保存设置").click()
    expect(page.get_by_role("status")).to_contain_text("消息设置已保存")
    expect(page.get_by_role("group", name="办件进度").get_by_label("短信")).to_be_checked(checked="sms" not in defaults)
    expect(page.get_by_role("group", name="政策推送").get_by_label("App推送")).to_be_checked()
    expect(page.get_by_label("结束时间")).to_have_value("07:00")
    site.shot("settings")
    preference = Preference.objects.get(account=citizen)
    assert preference.channels[Category.CASE_PROGRESS] == sorted(set(defaults) ^ {"sms"})
    assert preference.channels[Category.POLICY] == ["push"]


def test_unsubscribe_from_an_email_link(site: Site, citizen) -> None:
    token = messaging.unsubscribe_token(citizen, Category.LICENCE_EXPIRY)
    page = site.go(f"/messages/unsubscribe/{token}")
    expect(page.get_by_role("heading", level=1)).to_have_text("退订“证照到期”类消息")
    site.shot("unsubscribe")
    page.get_by_role("button", name="确认退订").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("已退订“证照到期”")
    page.get_by_role("link", name="去消息设置").click()
    assert site.path().startswith("/login/?next=")
    page.get_by_label("用户名").fill("zhangxm")
    page.get_by_label("密码").fill(CITIZEN_PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    assert site.path() == "/my/messages/settings/"
    licence = page.get_by_role("group", name="证照到期")
    for label in ("短信", "电子邮件", "App推送"):
        expect(licence.get_by_label(label)).not_to_be_checked()


@pytest.mark.parametrize("care", [False, True], ids=["normal", "care"])
def test_no_serious_accessibility_violations_and_big_targets(site: Site, two_messages, citizen, care: bool) -> None:
    if care:
        site.go("/")
        site.page.locator(".care-switch button").click()
        expect(site.page.locator("body")).to_have_class(re.compile(r"\bcare\b"))
    axe = Axe()
    token = messaging.unsubscribe_token(citizen, Category.POLICY)
    paths = ["/login/", f"/messages/unsubscribe/{token}/"]
    for path in paths:
        page = site.go(path)
        assert_header_fits(page)
        violations = [v for v in axe.run(page).response["violations"] if v["impact"] in HEAVY_IMPACTS]
        assert [(v["id"], [n["target"] for n in v["nodes"]][:5]) for v in violations] == [], path
    page = sign_in(site)
    item = two_messages[0]
    for path in ["/", "/my/messages/", "/my/messages/?box=archived", f"/my/messages/{item.public_id}/", "/my/messages/settings/"]:
        page = site.go(path)
        assert_header_fits(page)
        violations = [v for v in axe.run(page).response["violations"] if v["impact"] in HEAVY_IMPACTS]
        report = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:5]) for v in violations]
        assert report == [], f"{path}: {report}"
        if care:
            assert smallest_main_text(page) >= 18, path  # 适老化: nothing in the page smaller than 18 px
    target = 60 if care else 44
    page = site.go("/my/messages/")
    for selector in (".inbox-row", ".tabs a", ".inbox-tools .button", ".account-link"):
        assert box(page, selector)["height"] >= target, selector
    page = site.go("/my/messages/settings/")
    for selector in (".check label", "#quiet-start", ".settings-form .button"):
        assert box(page, selector)["height"] >= target, selector
    if care:
        assert float(page.locator("body").evaluate("el => parseFloat(getComputedStyle(el).fontSize)")) >= 20
        site.shot("care-settings")
        site.go("/my/messages/")
        site.shot("care-inbox")


@pytest.mark.parametrize("viewport", ["phone"])
def test_works_without_javascript(browser, live_server, transactional_db, mini, two_messages, viewport) -> None:  # type: ignore[no-untyped-def]
    with open_site(browser, live_server, viewport, "nojs-inbox", java_script_enabled=False) as site:
        page = sign_in(site, "/my/messages/")
        assert site.path() == "/my/messages/"
        page.locator(".inbox-row").first.click()
        page.get_by_role("button", name="归档").click()
        expect(page.locator(".inbox-row")).to_have_count(1)
        site.go("/my/messages/settings/")
        page.get_by_role("group", name="新服务上线").get_by_label("短信").check()
        page.get_by_role("button", name="保存设置").click()
        expect(page.get_by_role("status")).to_contain_text("消息设置已保存")
