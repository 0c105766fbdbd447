"""An account as a person makes and uses it: register with the code from the (sandbox) SMS, land on
我的, upgrade to L2 against the sandbox population base, look at security, log out. Phone
(360 × 780) and desktop (1280 × 800), normal and 长辈模式, with axe and screenshots."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.cache import cache
from playwright.sync_api import Page, expect

from tests.browser.conftest import Site
from tests.messaging_support import drain
from tongban.messaging.models import SandboxSms

pytestmark = pytest.mark.browser

HEAVY_IMPACTS = {"serious", "critical"}
MOBILE = "13600002222"
PASSWORD = "春天来了我们去看花-2026"


@pytest.fixture(autouse=True)
def _quick_registries(settings):
    settings.POPULATION_SANDBOX_LATENCY_MS = 0
    settings.POPULATION_SANDBOX_OUTAGE = False
    cache.clear()
    yield
    cache.clear()


def sms_code() -> str:
    """The code, read where the person reads it: the SMS the sandbox gateway "sent"."""
    drain()
    text = SandboxSms.objects.order_by("-id").first().text
    found = re.search(r"验证码(\d{6})", text)
    assert found, text
    return found.group(1)


def no_serious_violations(page: Page) -> None:
    violations = [v for v in Axe().run(page).response["violations"] if v["impact"] in HEAVY_IMPACTS]
    assert violations == [], [(v["id"], [n["target"] for n in v["nodes"]]) for v in violations]


def fits_sideways(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), "page scrolls sideways"


def small_targets(page: Page, minimum: float) -> list[str]:
    """Buttons, fields and links in the main content that are smaller than a finger (inline links
    inside a sentence excepted)."""
    return page.evaluate(
        """(minimum) => [...document.querySelectorAll('main button, main input:not([type=hidden]), main .button, main .link-list a')]
            .filter(el => el.getClientRects().length && el.getBoundingClientRect().height < minimum)
            .map(el => el.outerHTML.slice(0, 80))""",
        minimum - 0.5,
    )


@pytest.mark.parametrize("care", [False, True], ids=["normal", "care"])
def test_register_see_my_page_upgrade_to_l2_and_log_out(site: Site, templates, care: bool) -> None:
    page = site.go("/")
    if care:
        page.locator(".care-switch button").click()
        expect(page.locator("body")).to_have_class(re.compile(r"\bcare\b"))
    nav = page.get_by_role("navigation", name="主导航")
    expect(nav.get_by_role("link", name="我的")).to_be_visible()
    nav.get_by_role("link", name="我的").click()
    assert site.path().startswith("/login/?next=/my/")
    page.get_by_role("link", name="还没有账号？立即注册").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("注册通办账号")
    expect(page.get_by_text("第 1 步，共 2 步")).to_be_visible()

    # A wrong number first: the error sits beside the field and in the summary.
    page.get_by_label("手机号码").fill("1360000")
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_role("alert")).to_contain_text("11 位")
    expect(page.get_by_label("手机号码")).to_have_attribute("aria-invalid", "true")
    no_serious_violations(page)
    page.get_by_label("手机号码").fill(MOBILE)
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_text("第 2 步，共 2 步")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("136****2222")

    page.get_by_label("短信验证码").fill(sms_code())
    page.get_by_label("姓名或称呼").fill("小李")
    page.get_by_label("登录密码").fill(PASSWORD)
    fits_sideways(page)
    assert small_targets(page, 60 if care else 44) == []
    no_serious_violations(page)
    site.shot(f"{'care-' if care else ''}register-code")
    page.get_by_role("button", name="注册", exact=True).click()

    assert site.path() == "/my/"
    expect(page.get_by_role("status")).to_contain_text("注册成功")
    expect(page.get_by_role("heading", level=1)).to_have_text("我的")
    profile = page.locator(".profile")
    expect(profile).to_contain_text("小*")
    expect(profile).to_contain_text("136****2222")
    expect(profile).to_contain_text("L1 注册用户")
    expect(nav.get_by_role("link", name="我的")).to_have_attribute("aria-current", "page")
    expect(page.locator(".level-row.is-current")).to_contain_text("当前等级")
    fits_sideways(page)
    no_serious_violations(page)
    site.shot(f"{'care-' if care else ''}me")

    page.get_by_role("link", name="去实名认证（升为 L2）").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("实名认证")
    page.get_by_role("textbox", name="姓名", exact=True).fill("李白")
    page.get_by_role("textbox", name="身份证号码").fill("360102198803150026")
    page.get_by_role("button", name="核验并升级").click()
    expect(page.get_by_role("alert")).to_contain_text("姓名与身份证号码不一致")
    expect(page.get_by_role("textbox", name="身份证号码")).to_have_value("360102198803150026")  # what was typed stays
    page.get_by_role("textbox", name="姓名", exact=True).fill("李红")
    page.get_by_role("button", name="核验并升级").click()
    expect(page.get_by_role("status")).to_contain_text("L2 实名用户")
    expect(page.locator(".realname-step").first).to_contain_text("360102********0026")
    expect(page.get_by_role("button", name="开始人脸核验")).to_be_visible()
    expect(page.get_by_text("这是测试环境（沙箱）")).to_be_visible()
    fits_sideways(page)
    no_serious_violations(page)
    site.shot(f"{'care-' if care else ''}realname")

    page = site.go("/my/security/")
    expect(page.locator(".session-row.is-current")).to_contain_text("本设备")
    fits_sideways(page)
    no_serious_violations(page)
    site.shot(f"{'care-' if care else ''}security")

    page = site.go("/my/")
    expect(page.locator(".profile")).to_contain_text("李*")
    expect(page.locator(".profile")).to_contain_text("L2 实名用户")
    page.locator("main").get_by_role("button", name="退出登录").click()
    assert site.path() == "/"
    expect(page.get_by_role("status")).to_contain_text("您已退出登录")
    site.go("/my/")
    assert site.path().startswith("/login/?next=")


def test_sign_in_with_a_code_works_without_javascript(browser, live_server, transactional_db, mini, templates, citizen, viewport) -> None:  # type: ignore[no-untyped-def]
    from tests.browser.conftest import open_site

    with open_site(browser, live_server, viewport, "code-no-js", java_script_enabled=False) as site:
        page = site.go("/login/")
        page.get_by_role("link", name="验证码登录").click()
        page.get_by_label("手机号码").fill("13812345678")
        page.get_by_role("button", name="获取验证码").click()
        expect(page.get_by_role("status")).to_contain_text("138****5678")
        page.get_by_label("短信验证码").fill(sms_code())
        site.shot("login-code")
        page.get_by_role("button", name="登录", exact=True).click()
        assert site.path() == "/"
        expect(page.locator(".site-header")).to_contain_text("张**")
