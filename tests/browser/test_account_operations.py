"""An agent merges a customer's duplicate account, by keyboard alone, in a real browser."""

import pytest
from playwright.sync_api import expect

from ledger.services import Actor, adjust_points
from tests.factories import AccountFactory

from .conftest import axe_violations, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def tab_to(page, selector: str, tries: int = 60) -> None:
    for _ in range(tries):
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never got the focus")


def test_an_agent_merges_a_duplicate_by_keyboard(page, agent, manager, customer, program, reasons):
    duplicate = AccountFactory(
        program=program,
        first_name="Dana",
        last_name="B.",
        email="dana.dupe@example.com",
        phone="+15550100000",
        customer_id="CUST-DANA-2",
    )
    adjust_points(
        account=duplicate, points=250, reason=reasons["REWARD"], actor=Actor.of_operator(manager)
    )
    errors: list[str] = []
    # The browser's own favicon request (the console serves none) is not the page's error.
    page.on(
        "console",
        lambda m: (
            errors.append(f"{m.text} {m.location.get('url')}")
            if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, agent)
    page.goto(f"/accounts/{customer.pk}/")

    tab_to(page, "#merge > summary")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.locator("#merge-q")).to_be_focused()
    page.keyboard.type("dana.dupe")
    page.keyboard.press("Enter")
    expect(page.locator("#merge-candidates input[type=radio]")).to_have_count(1)
    tab_to(page, "#merge-candidates input[type=radio]")
    expect(page.locator("#merge-candidates input[type=radio]")).to_be_checked()
    tab_to(page, "#merge button[type=submit]:not(#merge-submit):not([form])")
    tab_to(page, "#merge-note")
    page.keyboard.type("Enrolled twice")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")

    expect(page.locator('[data-preview="merged-balance"]')).to_have_text("1,250")
    expect(page.locator('[data-preview="merged-lifetime"]')).to_have_text("1,250")
    expect(page.locator("#merge-preview")).to_contain_text("250")
    tab_to(page, "#merge-submit")
    page.keyboard.press("Enter")

    page.wait_for_url(f"**/accounts/{customer.pk}/")
    expect(page.locator(".messages")).to_contain_text("Merged Dana B. into this account")
    expect(page.locator(".messages p")).to_have_count(1)
    expect(page.locator("[data-balance]")).to_have_text("1,250")
    expect(page.locator("#event-rows tr").first).to_contain_text("Merged from Dana B.")
    expect(page.locator(".merged-history")).to_contain_text("Merged into Dana Brooks")
    expect(page.locator(".merged-history")).to_contain_text("Reward customer")
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == customer.pk
    assert axe_violations(page) == []
    assert errors == []
