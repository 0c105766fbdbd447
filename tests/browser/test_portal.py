"""The public portal as a person sees it: on a phone (360 × 780) and a desktop (1280 × 800), normal and 长辈模式."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser.conftest import Site, open_site

pytestmark = pytest.mark.browser

BIRTH = "出生登记（落户）"
HEAVY_IMPACTS = {"serious", "critical"}
SWITCH_HALL = "切换地区"


def hall_name(page: Page):  # type: ignore[no-untyped-def]
    return page.locator(".site-header .hall-name")


def care_switch(page: Page):  # type: ignore[no-untyped-def]
    return page.locator(".care-switch button")


def font_px(page: Page, selector: str) -> float:
    return float(page.locator(selector).first.evaluate("el => parseFloat(getComputedStyle(el).fontSize)"))


# The smallest rendered text inside <main>: every element with its own visible text.
SMALLEST_MAIN_TEXT = """() => {
  let smallest = Infinity;
  for (const el of document.querySelectorAll('main *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length || el.closest('.visually-hidden')) continue;
    smallest = Math.min(smallest, parseFloat(getComputedStyle(el).fontSize));
  }
  return smallest;
}"""


def smallest_main_text(page: Page) -> float:
    return float(page.evaluate(SMALLEST_MAIN_TEXT))


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not rendered"
    return found


def open_birth_guide_in_wuyuan(site: Site) -> Page:
    page = site.go("/")
    page.get_by_label("输入事项名称或平常的说法").fill("上户口")
    page.get_by_role("button", name="搜索").click()
    page.get_by_role("link", name=BIRTH).click()
    expect(page.get_by_role("heading", name="请选择办理地区")).to_be_visible()
    page.get_by_role("link", name=re.compile("婺源县")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(BIRTH)
    return page


def test_search_from_home_to_the_guide(site: Site) -> None:
    page = site.go("/")
    expect(page).to_have_title(re.compile("通办·江西政务服务"))
    search_box = page.get_by_label("输入事项名称或平常的说法")
    expect(search_box).to_be_visible()
    search_box.fill("上户口")
    site.shot("home")
    search_box.press("Enter")

    assert site.path().startswith("/search?q=")
    expect(page.get_by_role("heading", name="与“上户口”相关的服务")).to_be_visible()
    first = page.locator(".result").first
    expect(first.get_by_role("link")).to_have_text(BIRTH)
    expect(first).to_contain_text("各地分别办理")  # the province hall has no single place for a county item
    expect(page.get_by_label("要办什么事")).to_have_value("上户口")
    site.shot("search-results")

    first.get_by_role("link", name=BIRTH).click()
    assert site.path() == "/services/070100001000"
    choices = page.locator(".choice")
    expect(choices).to_have_count(3)
    expect(choices.filter(has_text="婺源县")).to_contain_text("婺源县公安局")
    site.shot("service-choose-region")
    choices.filter(has_text="婺源县").click()

    assert site.path().startswith("/guide/")
    expect(page.get_by_role("heading", level=1)).to_have_text(BIRTH)
    expect(page.locator(".guide-org")).to_contain_text("婺源县公安局")
    table = page.get_by_role("table")
    expect(table.get_by_role("columnheader", name="材料名称")).to_be_attached()
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table).to_contain_text("可免提交（平台调取电子证照：出生医学证明）")
    expect(page.locator("#time")).to_contain_text("法定 20 个工作日，承诺 5 个工作日办结")
    expect(page.locator("#online")).to_contain_text("本平台暂未开通该事项的网上申请，请携带材料到办理地点办理")
    expect(page.locator("#online")).to_contain_text("最多跑一次")
    expect(page.get_by_role("link", name=re.compile("在线申请|立即办理|网上申请"))).to_have_count(0)
    steps = page.locator("ol.steps > li")
    expect(steps).to_have_count(2)
    expect(page.locator("#faq summary")).to_have_text(["需要本人到场吗？"])
    page.locator("#faq summary").click()
    expect(page.locator("#faq .faq-answer")).to_be_visible()

    actions = page.get_by_role("region", name="常用操作")
    expect(actions.get_by_role("link", name=re.compile("咨询电话"))).to_have_attribute("href", "tel:079188888888")
    expect(actions.get_by_role("link", name="返回搜索")).to_be_visible()
    site.shot("guide")
    # The action bar stays in reach on a phone and never hides the end of the page.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    bar = box(page, ".actionbar")
    footer = box(page, ".site-footer")
    if site.viewport == "phone":
        nav = box(page, ".nav")
        assert bar["y"] + bar["height"] <= nav["y"] + 1, "the action bar sits above the bottom navigation"
        assert nav["y"] + nav["height"] == pytest.approx(780, abs=1)
        assert footer["y"] + footer["height"] <= bar["y"] + 1, "the page end scrolls clear of the action bar"
        for selector in (".actionbar .button", ".nav a"):
            assert box(page, selector)["height"] >= 44
    else:
        assert bar["y"] >= 0


def test_switch_branch_hall_is_remembered(site: Site) -> None:
    page = site.go("/")
    expect(hall_name(page)).to_have_text("江西省网上办事大厅")
    expect(page.locator(".svc-name")).to_contain_text(["社会保障卡申领", BIRTH, "机动车注册登记（新车上牌）"])

    page.locator(".site-header").get_by_role("link", name=SWITCH_HALL).click()
    assert site.path() == "/halls?next=/"
    page.get_by_role("button", name=re.compile("^上饶市")).click()
    assert site.path() == "/"
    expect(hall_name(page)).to_have_text("上饶市网上办事大厅")

    page.locator(".site-header").get_by_role("link", name=SWITCH_HALL).click()
    page.get_by_role("link", name="查看上饶市下辖区县").click()
    expect(page.get_by_role("heading", name="上饶市下辖区县")).to_be_visible()
    site.shot("halls-shangrao")
    page.get_by_role("button", name=re.compile("^婺源县")).click()
    assert site.path() == "/"
    expect(hall_name(page)).to_have_text("婺源县网上办事大厅")
    # Only what 婺源县 can handle: the 南昌-only car registration is gone from the home page.
    expect(page.locator(".svc-name", has_text="机动车注册登记")).to_have_count(0)
    expect(page.locator(".svc", has_text=BIRTH)).to_contain_text("婺源县公安局")

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="办事").click()
    assert site.path() == "/services"
    expect(hall_name(page)).to_have_text("婺源县网上办事大厅")
    page.reload()
    expect(hall_name(page)).to_have_text("婺源县网上办事大厅")
    page.locator(".site-header").get_by_role("link", name=SWITCH_HALL).click()
    expect(page.get_by_role("button", name=re.compile("^江西省"))).to_be_visible()
    page.get_by_role("button", name=re.compile("^江西省")).click()
    assert site.path() == "/services"
    expect(hall_name(page)).to_have_text("江西省网上办事大厅")


def test_care_mode_is_bigger_and_on_every_page(site: Site) -> None:
    page = site.go("/")
    assert font_px(page, "body") == 16
    switch = care_switch(page)
    expect(switch).to_have_attribute("aria-pressed", "false")
    switch.click()
    assert site.path() == "/"
    expect(page.locator("body")).to_have_class(re.compile(r"\bcare\b"))
    expect(care_switch(page)).to_have_attribute("aria-pressed", "true")
    assert font_px(page, "body") >= 20
    assert font_px(page, ".svc-name") >= 20
    assert font_px(page, "h1") >= 30
    # Only the most used services, as big buttons in one column; no theme or zone sections.
    cards = page.locator(".svc")
    assert 1 <= cards.count() <= 8
    boxes = [cards.nth(i).bounding_box() for i in range(cards.count())]
    assert all(b is not None and b["height"] >= 60 for b in boxes)
    if site.viewport == "phone":
        assert len({round(b["x"]) for b in boxes if b}) == 1, "one column"
    expect(page.get_by_role("heading", name="个人办事")).to_have_count(0)
    assert box(page, ".care-switch button")["height"] >= 60
    site.shot("care-home")

    pages = ["/search?q=社保", "/services", "/halls", "/themes/birth", "/services/070100001000", "/no-such-page"]
    for path in pages:
        page = site.go(path)
        expect(care_switch(page)).to_have_attribute("aria-pressed", "true")
        assert font_px(page, "body") >= 20, path
        assert smallest_main_text(page) >= 18, path  # 适老化: main text at least 18 dp, nothing smaller
    page = open_birth_guide_in_wuyuan(site)
    expect(care_switch(page)).to_have_attribute("aria-pressed", "true")
    assert font_px(page, "#about p") >= 20
    assert smallest_main_text(page) >= 18
    for selector in (".actionbar .button", ".toc a", "#faq summary"):
        assert box(page, selector)["height"] >= 60, selector
    site.shot("care-guide")

    care_switch(page).click()
    expect(care_switch(page)).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_role("heading", level=1)).to_have_text(BIRTH)  # back on the same page
    assert font_px(page, "body") == 16


def test_care_switch_and_read_aloud_on_every_page(site: Site) -> None:
    for path in ["/", "/search?q=社保", "/search?q=", "/services", "/halls", "/themes/birth", "/services/070100001000", "/nowhere"]:
        page = site.go(path)
        expect(care_switch(page)).to_be_visible()
        expect(page.locator("a.skip-link")).to_have_attribute("href", "#main")
        has_speech = page.evaluate("'speechSynthesis' in window")
        read_aloud = page.get_by_role("button", name="朗读")
        if has_speech:
            expect(read_aloud).to_be_visible()
        else:
            expect(read_aloud).to_be_hidden()
        expect(page.locator("h1")).to_have_count(1)


def test_search_keeps_filters_and_explains_empty_and_bad_queries(site: Site) -> None:
    page = site.go("/search?q=登记&object=2")
    expect(page.locator("details.filters")).to_have_attribute("open", "")
    expect(page.get_by_label("服务对象")).to_have_value("2")
    expect(page.locator(".result h3")).to_have_text(["企业设立登记（有限责任公司）"])
    page.get_by_label("服务对象").select_option("")
    page.get_by_role("button", name="按条件搜索").click()
    assert "object=" in site.path()
    expect(page.locator(".result h3", has_text=BIRTH)).to_have_count(1)

    page = site.go("/search?q=火星护照")
    expect(page.get_by_role("heading", name="没有找到与“火星护照”相关的服务")).to_be_visible()
    expect(page.get_by_role("heading", name="大家常办的服务")).to_be_visible()
    expect(page.locator(".empty .link-list a").first).to_be_visible()
    site.shot("search-empty")

    response = page.goto(site.base_url + "/search?q=")
    assert response is not None and response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("请输入要找的服务")
    expect(page.get_by_label("要办什么事")).to_have_attribute("aria-invalid", "true")
    site.shot("search-error")


def test_kiosk_mode_renders_and_resets_when_idle(site: Site, settings) -> None:  # type: ignore[no-untyped-def]
    settings.KIOSK_IDLE_SECONDS = 3
    page = site.go("/services")
    page.get_by_role("button", name=re.compile("自助终端模式")).click()
    assert site.path() == "/"
    expect(page.locator("body")).to_have_class(re.compile(r"\bkiosk\b"))
    bar = page.get_by_role("region", name="自助终端提示")
    expect(bar).to_contain_text("3 秒无人操作将清除本次使用记录并回到首页")
    expect(bar).to_contain_text("在手机上继续")
    qr = bar.get_by_role("img", name="本页二维码")
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    # The visitor turns on care mode; the next visitor must not inherit it.
    care_switch(page).click()
    expect(page.locator("body")).to_have_class(re.compile(r"\bcare\b"))
    assert box(page, ".svc")["height"] >= 60
    site.shot("kiosk-home")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="办事").click()
    assert site.path() == "/services"
    # Nobody touches the screen: the terminal forgets this visitor and returns home by itself,
    # still a kiosk, with care mode off again.
    page.wait_for_url(site.base_url + "/", timeout=8_000)
    expect(page.locator("body")).to_have_class(re.compile(r"\bkiosk\b"))
    expect(page.locator("body")).not_to_have_class(re.compile(r"\bcare\b"))
    expect(page.get_by_role("region", name="自助终端提示")).to_have_count(1)


@pytest.mark.parametrize("care", [False, True], ids=["normal", "care"])
def test_no_serious_accessibility_violations(site: Site, care: bool) -> None:
    if care:
        site.go("/")
        care_switch(site.page).click()
        expect(site.page.locator("body")).to_have_class(re.compile(r"\bcare\b"))
    axe = Axe()
    page = open_birth_guide_in_wuyuan(site)
    guide_path = site.path()
    for path in ["/", "/search?q=上户口", "/search?q=火星护照", guide_path, "/halls"]:
        page = site.go(path)
        violations = [v for v in axe.run(page).response["violations"] if v["impact"] in HEAVY_IMPACTS]
        report = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:5]) for v in violations]
        assert report == [], f"{path}: {report}"
    site.shot("axe-halls-care" if care else "axe-halls")


@pytest.mark.parametrize("viewport", ["phone"])
def test_works_without_javascript(browser, live_server, transactional_db, mini, viewport) -> None:  # type: ignore[no-untyped-def]
    with open_site(browser, live_server, viewport, "nojs", java_script_enabled=False) as site:
        page = open_birth_guide_in_wuyuan(site)
        expect(page.get_by_role("button", name="朗读")).to_be_hidden()
        care_switch(page).click()
        expect(care_switch(page)).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_role("heading", level=1)).to_have_text(BIRTH)


RECORD_SPEECH = """
window.__spoken = [];
if ('speechSynthesis' in window) {
  window.speechSynthesis.speak = (utterance) => { window.__spoken.push({ lang: utterance.lang, text: utterance.text }); };
}
"""


@pytest.mark.parametrize("viewport", ["phone"])
def test_read_aloud_speaks_the_page_in_chinese(site: Site) -> None:
    site.page.add_init_script(RECORD_SPEECH)
    page = open_birth_guide_in_wuyuan(site)
    button = page.get_by_role("button", name="朗读")
    expect(button).to_be_visible()
    expect(button).to_have_attribute("aria-pressed", "false")
    button.click()
    spoken = page.evaluate("window.__spoken")
    assert spoken, "nothing was handed to speechSynthesis"
    assert {part["lang"] for part in spoken} == {"zh-CN"}
    text = "".join(part["text"] for part in spoken)
    assert BIRTH in text and "要准备什么材料" in text and "出生医学证明" in text
    assert "长辈模式" not in text, "only the main content is read, not the header"
    stop = page.get_by_role("button", name="停止朗读")
    expect(stop).to_have_attribute("aria-pressed", "true")
    stop.click()
    expect(page.get_by_role("button", name="朗读")).to_have_attribute("aria-pressed", "false")
