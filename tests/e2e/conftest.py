"""Real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright against live_server.

Playwright's sync API runs an event loop in this thread, which makes Django refuse ORM calls
from the test body ("async unsafe"); the test body and the server thread use the database one
at a time, so it is safe to allow here — and only here.
"""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("LEADFLOW_CHROMIUM", "/usr/bin/chromium")


def _chromium_missing() -> str:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM}: install Debian's `chromium` (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -r requirements-dev.txt)"
    return ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _chromium_missing()
    if not reason:
        return
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.csp_violations = []
    page.on(
        "console",
        lambda msg: page.csp_violations.append(msg.text)
        if "Content Security Policy" in msg.text
        else None,
    )
    yield page
    context.close()


@pytest.fixture
def login(page):
    def do(username: str, password: str = "pw") -> None:  # noqa: S107 (factory password)
        # A fresh session each time, left from a blank page: a request of the page before, still
        # running while the cookies were cleared, could set a second CSRF cookie between the
        # login form's GET and its POST (a CI run's 403 at login, switching users).
        page.goto("about:blank")
        page.context.clear_cookies()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()

    return do


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failing browser test, keep a screenshot (LEADFLOW_E2E_ARTIFACTS, default /tmp)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    page = getattr(item, "funcargs", {}).get("page")
    if report.when == "call" and report.failed and page is not None:
        folder = Path(os.environ.get("LEADFLOW_E2E_ARTIFACTS", tempfile.gettempdir()))
        with contextlib.suppress(Exception):  # a screenshot must never hide the real failure
            page.screenshot(path=str(folder / f"e2e-{item.name}.png"), full_page=True)
