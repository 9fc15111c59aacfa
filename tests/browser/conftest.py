"""Playwright (sync API) on Debian's Chromium against pytest-django's live server."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ledger.services import Actor, adjust_points
from tests.factories import PASSWORD, AccountFactory

# Playwright's sync API runs an event loop in this thread; Django would otherwise refuse the
# database calls the tests make around it.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(
                    pytest.mark.skip(reason="Debian Chromium missing (apt-get install chromium)")
                )


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    # Generous for a loaded CI machine: a wait ends as soon as its condition holds.
    context.set_default_timeout(10_000)
    expect.set_options(timeout=10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def customer(transactional_db, program, reasons, manager):
    """Dana, with 1,000 points earned, whom agents find by her phone number."""
    account = AccountFactory(
        program=program,
        first_name="Dana",
        last_name="Brooks",
        email="dana.brooks@example.com",
        phone="+15550107788",
        customer_id="CUST-DANA",
    )
    adjust_points(
        account=account,
        points=1000,
        reason=reasons["REWARD"],
        actor=Actor.of_operator(manager),
    )
    account.refresh_from_db()
    return account


def log_in(page, user) -> None:
    page.goto("/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    wait_for_home(page)


def wait_for_home(page) -> None:
    page.wait_for_url(lambda url: url.endswith("/") and "/login/" not in url)


def screenshot(page, name: str) -> None:
    """Refresh docs/screenshots/ when asked (`make screenshots`), so that an ordinary test run
    leaves the work tree clean."""
    if not os.environ.get("UPDATE_SCREENSHOTS"):
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / name))


# The history explorer's chart is drawn, with data: for `page.wait_for_function`. A function,
# not an expression: Playwright polls an expression with eval, which the pages'
# Content-Security-Policy (script-src 'self') refuses, so such a wait can only pass when its
# condition already holds at the first look; a function is called as it is, until it holds.
CHART_HAS_DATA = """() => {
  const canvas = document.querySelector('canvas[data-chart]');
  const chart = canvas && Chart.getChart(canvas);
  if (!chart || !chart.data.datasets.length) return false;
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
  return false;
}"""


def axe_violations(page) -> list[str]:
    """Every axe-core violation on the page, whatever its impact."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
    ]


def watch_console(page) -> list[str]:
    """The browser console's errors and the page's uncaught exceptions, as they happen."""
    seen: list[str] = []
    page.on(
        "console",
        lambda message: (
            seen.append(f"{message.type}: {message.text}") if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: seen.append(f"pageerror: {error}"))
    return seen


# The former name, for tests written before every impact counted: they now get every violation.
serious_violations = axe_violations
