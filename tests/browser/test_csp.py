"""The Content-Security-Policy in a real browser: every console page, HTMX swaps included,
runs with no CSP violation; the API docs render under their own, slightly relaxed policy."""

import pytest
from playwright.sync_api import expect

from ledger.services import Actor, upload_bulk_file

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def watch(page) -> list[str]:
    """Console messages and page errors; Chromium reports each CSP violation as one."""
    seen: list[str] = []
    page.on("console", lambda message: seen.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: seen.append(f"pageerror: {error}"))
    return seen


def violations(seen: list[str]) -> list[str]:
    return [m for m in seen if "Content Security Policy" in m or m.startswith("pageerror")]


def test_no_console_page_violates_the_policy(page, manager, customer, program):
    seen = watch(page)
    batch, _ = upload_bulk_file(
        program=program,
        actor=Actor.of_operator(manager),
        filename="ok.csv",
        data=f"email,points,reason\n{customer.email},5,REWARD\n".encode(),
    )
    page.goto("/login/")
    log_in(page, manager)
    page.fill("#search-q", "555 010")  # an HTMX swap of the results
    expect(page.locator("a.result")).to_have_count(1)
    for path in (
        f"/accounts/{customer.pk}/",
        "/program/",
        "/reasons/",
        "/bulk/",
        f"/bulk/{batch.pk}/",
    ):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    page.goto(f"/accounts/{customer.pk}/")
    page.select_option("#id_reason", label="Redeem points for a discount (−)")
    page.fill("#id_amount", "5")  # an HTMX preview
    expect(page.locator('[data-preview="balance-after"]')).to_have_text("995")

    assert violations(seen) == []
    assert page.evaluate("typeof htmx") == "object"  # our scripts did run


def test_the_api_docs_render_without_violations(page):
    seen = watch(page)
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Loyalty points admin API")
    expect(page.locator(".opblock").first).to_be_visible()

    assert violations(seen) == []
