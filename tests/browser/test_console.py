"""The agent's day, in a real browser: find, preview, submit once, see it in the history."""

import pytest
from playwright.sync_api import expect

from ledger.models import LoyaltyEvent
from ledger.services import Actor, adjust_points

from .conftest import axe_violations, log_in, screenshot, wait_for_home

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _open_customer(page, query: str, name: str) -> None:
    page.fill("#search-q", query)
    expect(page.locator("a.result")).to_have_count(1)
    page.locator("a.result", has_text=name).click()
    page.wait_for_url("**/accounts/*/")


def _choose(page, amount: str) -> None:
    page.select_option("#id_reason", label="Redeem points for a discount (−)")
    page.fill("#id_amount", amount)


def test_it_adjusts_from_search_to_history(page, agent, manager, customer, reasons):
    # A history like a real customer's (the screenshots show it).
    for points, code, title, note in (
        (250, "REWARD", "Birthday bonus", ""),
        (-120, "REDEEM_DISCOUNT", "10% off, order 48213", ""),
        (80, "REWARD", "Sorry for the late delivery", "Complaint 3391, parcel lost for a week"),
    ):
        adjust_points(
            account=customer,
            points=points,
            reason=reasons[code],
            history_title=title,
            note=note,
            actor=Actor.of_operator(manager),
        )
    page.goto("/login/")
    assert axe_violations(page) == []
    screenshot(page, "login.png")
    log_in(page, agent)

    page.fill("#search-q", "555 010")
    expect(page.locator("a.result")).to_have_count(1)
    expect(page.locator("a.result")).to_contain_text("+1 555-010-7788")
    assert axe_violations(page) == []
    screenshot(page, "search.png")
    page.locator("a.result").click()
    page.wait_for_url(f"**/accounts/{customer.pk}/")

    _choose(page, "300")
    expect(page.locator('[data-preview="balance-after"]')).to_have_text("910")
    expect(page.locator('[data-preview="lifetime-after"]')).to_have_text("1,330")
    page.click("#adjust-submit")

    expect(page.locator("#adjust-confirmation")).to_contain_text("New balance: 910.")
    expect(page.locator("[data-balance]")).to_have_text("910")
    expect(page.locator("#event-rows tr").first).to_contain_text("Redeem points for a discount")
    expect(page.locator("#event-rows tr").first).to_contain_text(agent.email)
    expect(page.locator("#id_amount")).to_have_value("")
    customer.refresh_from_db()
    assert customer.balance == 910
    assert axe_violations(page) == []
    screenshot(page, "account.png")


def test_it_makes_one_event_of_a_double_click(page, agent, customer):
    log_in(page, agent)
    page.goto(f"/accounts/{customer.pk}/")
    _choose(page, "250")
    expect(page.locator('[data-preview="balance-after"]')).to_have_text("750")

    page.dblclick("#adjust-submit")

    expect(page.locator("#adjust-confirmation")).to_contain_text("New balance: 750.")
    page.wait_for_load_state("networkidle")
    customer.refresh_from_db()
    assert customer.balance == 750
    assert LoyaltyEvent.objects.filter(account=customer, points=-250).count() == 1


def test_it_works_by_keyboard_alone(page, agent, customer):
    page.goto("/login/")
    # The email field has the focus as soon as the page shows; typing before then would
    # lose the first characters, as it would for a person.
    expect(page.locator("#id_username")).to_be_focused()
    page.keyboard.type(agent.email)
    page.keyboard.press("Tab")
    page.keyboard.type("correct-horse-battery-staple")
    expect(page.locator("#id_username")).to_have_value(agent.email)
    expect(page.locator("#id_password")).to_be_focused()
    page.keyboard.press("Enter")
    wait_for_home(page)

    expect(page.locator("#search-q")).to_be_focused()  # autofocus, as a person would see
    page.keyboard.type("dana.b")
    expect(page.locator("a.result")).to_have_count(1)
    page.keyboard.press("ArrowDown")
    expect(page.locator("a.result")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/accounts/{customer.pk}/")

    # Tab through the header and the customer's details to the reason; the page's links
    # before it vary with the role and the customer's history.
    for _ in range(40):
        if page.evaluate("document.activeElement.id") == "id_reason":
            break
        page.keyboard.press("Tab")
    expect(page.locator("#id_reason")).to_be_focused()
    page.keyboard.type("Redeem")
    page.keyboard.press("Tab")
    page.keyboard.type("100")
    expect(page.locator('[data-preview="balance-after"]')).to_have_text("900")
    page.keyboard.press("Enter")

    expect(page.locator("#adjust-confirmation")).to_contain_text("New balance: 900.")
    customer.refresh_from_db()
    assert customer.balance == 900


def test_it_shows_an_overdraft_and_changes_nothing(page, agent, customer, reasons, manager):
    log_in(page, agent)
    page.goto(f"/accounts/{customer.pk}/")

    _choose(page, "1500")
    expect(page.locator('[data-preview="problems"]')).to_contain_text("would leave -500")
    expect(page.locator("#adjust-submit")).to_be_disabled()

    # The preview allowed 700, then another operator redeemed 500 before this one submitted.
    page.fill("#id_amount", "700")
    expect(page.locator('[data-preview="balance-after"]')).to_have_text("300")
    expect(page.locator("#adjust-submit")).to_be_enabled()
    adjust_points(
        account=customer,
        points=-500,
        reason=reasons["REDEEM_DISCOUNT"],
        actor=Actor.of_operator(manager),
    )
    page.click("#adjust-submit")

    error = page.locator("#id_amount_error")
    expect(error).to_contain_text("removing 700 would leave -200")
    expect(page.locator("#id_amount")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_amount")).to_have_attribute("aria-describedby", "id_amount_error")
    expect(page.locator("#id_amount")).to_have_value("700")
    # The refusal shows the balance as it now is, and the other operator's redemption.
    expect(page.locator("[data-balance]")).to_have_text("500")
    expect(page.locator("#event-rows tr").first).to_contain_text("-500")
    customer.refresh_from_db()
    assert customer.balance == 500
    assert LoyaltyEvent.objects.filter(account=customer).count() == 2


def test_leaving_a_field_unchanged_asks_for_no_new_preview(page, agent, customer):
    # A preview would replace the submit button, under a pointer on its way to click it.
    log_in(page, agent)
    page.goto(f"/accounts/{customer.pk}/")
    previews = []

    def ask(request):
        if request.url.endswith("/preview"):
            previews.append(request.post_data)

    page.on("request", ask)

    _choose(page, "300")
    expect(page.locator('[data-preview="balance-after"]')).to_have_text("700")
    asked = len(previews)
    page.keyboard.press("Tab")  # leaves the amount as it was
    expect(page.locator("#id_history_title")).to_be_focused()
    page.fill("#id_amount", "200")
    expect(page.locator('[data-preview="balance-after"]')).to_have_text("800")

    assert len(previews) == asked + 1
    assert "amount=200" in previews[-1]


def test_it_lets_a_manager_manage_reasons(page, manager, program, reasons):
    log_in(page, manager)
    page.click("text=Reasons")
    page.wait_for_url("**/reasons/")
    assert axe_violations(page) == []

    page.fill("#id_new-code", "GOODWILL")
    page.fill("#id_new-label", "Goodwill gesture")
    page.check("#id_new-sign_0")
    page.click("text=Add reason")
    expect(page.locator("#reason-admin")).to_contain_text("Added “Goodwill gesture”.")
    screenshot(page, "reasons.png")
