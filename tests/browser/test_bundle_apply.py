"""一件事一次办 in a browser, phone and desktop: the bundle list, one page with the merged form and
the deduplicated materials, one upload kept with both parts, one submission; axe on the pages."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.cache import cache
from playwright.sync_api import expect

from tests.browser.conftest import Site
from tests.browser.test_inbox import sign_in
from tests.test_bundle_apply import plan_parts  # noqa: F401 (fixture)
from tests.test_materials import PDF
from tongban.cases.models import Case, CaseMaterial

pytestmark = pytest.mark.browser

HEAVY_IMPACTS = {"serious", "critical"}


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def _axe(page) -> None:
    violations = [v for v in Axe().run(page).response["violations"] if v["impact"] in HEAVY_IMPACTS]
    assert violations == [], [(v["id"], [n["target"] for n in v["nodes"]]) for v in violations]


def test_apply_for_a_bundle_once(site: Site, templates, citizen, plan_parts, tmp_path) -> None:  # noqa: F811
    page = site.go("/bundles/")
    expect(page.get_by_role("heading", name="出生一件事")).to_be_visible()
    _axe(page)
    sign_in(site, "/bundles/birth/apply/")
    page = site.go("/bundles/birth/apply/")
    expect(page.get_by_role("heading", level=1)).to_have_text("出生一件事")
    expect(page.get_by_label("新生儿姓名")).to_have_count(1)  # asked once for both items
    expect(page.get_by_label("居民户口簿")).to_have_count(1)  # one material for both items
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), "page scrolls sideways"
    _axe(page)
    site.shot("bundle-apply")

    page.get_by_label("新生儿姓名").fill("张小宝")
    page.get_by_label("开户银行").fill("江西银行")
    proof = tmp_path / "户口簿.pdf"
    proof.write_bytes(PDF)
    page.get_by_label("居民户口簿").set_input_files(str(proof))
    page.get_by_text("本人承诺所填写的信息").click()
    page.get_by_label("设置查询密码").fill("cx2026ab")
    page.get_by_role("button", name="一次提交").click()
    assert site.path().startswith("/my/cases/")
    parts = Case.objects.filter(applicant=citizen, bundle_application__isnull=False)
    assert sorted(parts.values_list("state", flat=True)) == ["draft", "submitted"]
    assert CaseMaterial.objects.filter(case__in=parts, name="居民户口簿").values("file").distinct().count() == 1
