"""Browser tests: headless Debian Chromium driven by Playwright against pytest-django's live server."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
VIEWPORTS = {"phone": {"width": 360, "height": 780}, "desktop": {"width": 1280, "height": 800}}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop running in this thread while the fixtures' ORM work stays
    # synchronous; Django's async-safety check is relaxed only while the browser is up.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(autouse=True)
def _plain_static_files(settings):  # type: ignore[no-untyped-def]
    """The live server finds static files in the apps; no collectstatic manifest is needed."""
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return request.param


class Site:
    """A browser tab on the live server, failing the test on script errors and CSP violations."""

    def __init__(self, page: Page, base_url: str, viewport: str, test_name: str) -> None:
        self.page = page
        self.base_url = base_url
        self.viewport = viewport
        self.test_name = re.sub(r"[^\w-]+", "_", test_name).strip("_")
        self.problems: list[str] = []
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("console", self._console)
        page.on("response", self._response)
        page.on("requestfailed", self._failed)

    def _console(self, message) -> None:  # type: ignore[no-untyped-def]
        # A page answered with 400/404 on purpose is checked by the test itself; anything else
        # logged as an error (CSP refusals, script errors) is a problem.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console error: {message.text}")

    def _failed(self, request) -> None:  # type: ignore[no-untyped-def]
        # A request cut short because the page moved on (a form posted, a link followed) is not a fault.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response) -> None:  # type: ignore[no-untyped-def]
        if response.request.resource_type != "document" and response.status >= 400:
            self.problems.append(f"{response.status} for {response.url}")

    def go(self, path: str) -> Page:
        self.page.goto(self.base_url + path)
        return self.page

    def path(self) -> str:
        return self.page.url.removeprefix(self.base_url)

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / f"{self.viewport}-{name}.png"
        self.page.screenshot(path=str(target), full_page=True)
        return target


@contextmanager
def open_site(browser: Browser, live_server, viewport: str, name: str, **context_options) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=VIEWPORTS[viewport], locale="zh-CN", **context_options)
    context.set_default_timeout(10_000)
    site = Site(context.new_page(), live_server.url, viewport, name)
    try:
        yield site
    finally:
        context.close()
    assert site.problems == [], site.problems


@pytest.fixture
def site(browser, live_server, transactional_db, mini, viewport, request) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    with open_site(browser, live_server, viewport, request.node.name) as opened:
        yield opened
