"""The managers' review in a real browser: four eyes from request to event; accessible pages."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.models import Program
from ledger.models import ApprovalRequest, LoyaltyEvent
from ledger.services import Actor, adjust_points
from loyalty_admin import audit

from .conftest import CHART_HAS_DATA, axe_violations, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# `REVIEW_SCREENSHOTS=dir` keeps a picture of each page (for looking at them, not for docs).
SHOTS = os.environ.get("REVIEW_SCREENSHOTS")


def _shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


def test_it_takes_a_large_adjustment_through_approval(
    browser, live_server, agent, manager, customer
):
    Program.objects.filter(pk=customer.program_id).update(approval_threshold=500)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    context.set_default_timeout(5000)
    page = context.new_page()
    log_in(page, agent)
    page.goto(f"/accounts/{customer.pk}/")
    page.select_option("#id_reason", label="Reward customer (+)")
    page.fill("#id_amount", "2500")
    expect(page.locator('[data-preview="approval"]')).to_contain_text("need a manager's approval")
    expect(page.locator("#adjust-submit")).to_have_text("Request approval")
    page.click("#adjust-submit")
    expect(page.locator("#adjust-confirmation")).to_contain_text("Sent to a manager for approval")
    expect(page.locator("#approval-requests")).to_contain_text("Waiting for a manager")
    assert ApprovalRequest.objects.get().status == "PENDING"
    context.close()

    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    context.set_default_timeout(5000)
    page = context.new_page()
    log_in(page, manager)
    expect(page.locator("#nav-approvals .count")).to_contain_text("1")
    page.click("#nav-approvals")
    page.wait_for_url("**/approvals/")
    assert axe_violations(page) == []
    _shot(page, "approvals.png")
    page.get_by_role("button", name="Approve +2,500").click()
    expect(page.locator(".approval-done")).to_contain_text(
        "Approved: +2,500 points. New balance: 3,500."
    )
    expect(page.locator("#nav-approvals .count")).to_have_count(0)
    context.close()

    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    context.set_default_timeout(5000)
    page = context.new_page()
    log_in(page, agent)
    page.goto(f"/accounts/{customer.pk}/")
    expect(page.locator("[data-balance]")).to_have_text("3,500")
    first = page.locator("#event-rows tr").first
    expect(first).to_contain_text("+2,500")
    expect(first).to_contain_text(agent.email)
    expect(first).to_contain_text(f"Approved by {manager.email}")
    expect(page.locator("#approval-requests")).to_contain_text("Approved")
    context.close()


def test_manager_pages_are_accessible(page, manager, agent, customer, reasons):
    # An agent's adjustment above the program's threshold is held for a manager.
    Program.objects.filter(pk=customer.program_id).update(approval_threshold=500)
    held = adjust_points(
        account=customer, points=700, reason=reasons["REWARD"], actor=Actor.of_operator(agent)
    )
    assert held.held
    audit.record(action="login", actor=agent, summary=f"{agent.email} logged in", ip="10.1.2.3")
    log_in(page, manager)

    page.goto("/history/")
    expect(page.locator("canvas[data-chart]")).to_be_visible()
    page.wait_for_function(CHART_HAS_DATA)
    assert axe_violations(page) == []
    _shot(page, "history.png")

    # Filters update the results in place and live in the URL.
    page.select_option("#id_sign", "removed")
    expect(page.locator("#history-results")).to_contain_text("No event matches these filters.")
    assert "sign=removed" in page.url
    page.go_back()
    expect(page.locator("#history-results")).to_contain_text("Reward customer")
    expect(page.locator("#id_sign")).to_have_value("")
    page.wait_for_function(CHART_HAS_DATA)

    page.locator("details.reverse summary").first.click()
    _shot(page, "history-reverse.png")

    for path, name in [
        ("/approvals/", "approvals"),
        ("/audit/", "audit"),
        ("/people/", "people"),
        ("/people/api-clients/", "api-clients"),
    ]:
        page.goto(path)
        assert axe_violations(page) == [], path
        _shot(page, f"{name}.png")

    page.goto(f"/accounts/{customer.pk}/")
    assert axe_violations(page) == []
    _shot(page, "account.png")
    assert LoyaltyEvent.objects.count() == 1
