"""The materials step of applying online as a citizen does it in a browser: the list with its
markers, a file chosen and uploaded, kept in the library, the application submitted. Phone
(360 × 780) and desktop (1280 × 800), with axe."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.cache import cache
from playwright.sync_api import expect

from tests.browser.conftest import Site
from tests.browser.test_inbox import sign_in
from tests.test_materials import PDF, implementation, item  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

HEAVY_IMPACTS = {"serious", "critical"}


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def verified(citizen):
    citizen.real_name_level = 2
    citizen.save(update_fields=["real_name_level"])
    return citizen


def test_upload_a_material_and_submit(site: Site, templates, verified, implementation, tmp_path) -> None:  # noqa: F811
    sign_in(site, f"/apply/{implementation.code}/")
    page = site.go(f"/apply/{implementation.code}/")
    page.get_by_label("居住地址").fill("东湖区阳明路 1 号")
    page.get_by_role("button", name="下一步").click()
    expect(page.locator(".apply-progress")).to_contain_text("第 2 步，共 2 步")
    expect(page.locator("#materials")).to_contain_text("将从电子证照自动获取")
    expect(page.locator("#materials")).to_contain_text("窗口提交纸质材料")
    expect(page.locator("#materials")).to_contain_text("还未上传（必须上传）")
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), "page scrolls sideways"
    site.shot("apply-materials")

    page.get_by_label("查询密码").fill("cx2026ab")
    page.get_by_role("button", name="提交申请").click()
    expect(page.get_by_role("alert")).to_contain_text("请上传以下必要材料后再提交：居住证明。")

    proof = tmp_path / "居住证明.pdf"
    proof.write_bytes(PDF)
    page.locator("section", has=page.get_by_role("heading", name="居住证明")).get_by_label("选择文件").set_input_files(str(proof))
    page.get_by_text("同时保存到我的材料库").click()
    page.get_by_role("button", name="上传所选文件").click()
    expect(page.get_by_role("status")).to_contain_text("已上传“居住证明.pdf”")
    expect(page.locator("#materials")).to_contain_text("已上传 1 个文件")
    expect(page.get_by_role("link", name="居住证明.pdf")).to_have_attribute("href", f"/files/{verified.stored_files.get().public_id}/")
    violations = [v for v in Axe().run(page).response["violations"] if v["impact"] in HEAVY_IMPACTS]
    assert violations == [], [(v["id"], [n["target"] for n in v["nodes"]]) for v in violations]
    site.shot("apply-materials-uploaded")

    page.get_by_label("查询密码").fill("cx2026ab")
    page.get_by_role("button", name="提交申请").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("居住证申领")
    assert site.path().endswith("/receipt/")

    page = site.go("/my/materials/")
    expect(page.locator(".material-library")).to_contain_text("居住证明.pdf")
    site.shot("my-materials")
