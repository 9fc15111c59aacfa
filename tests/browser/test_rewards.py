"""An agent turns a customer's points into a reward and redeems it, by keyboard alone."""

import pytest
from playwright.sync_api import expect

from ledger.models import Reward
from ledger.services import Actor, add_reward_tier

from .conftest import log_in, serious_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def tab_to(page, is_there: str) -> None:
    """Press Tab until `is_there` (a JS expression about document.activeElement) holds."""
    for _ in range(60):
        if page.evaluate(f"(el => {is_there})(document.activeElement)"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {is_there}")


def test_an_agent_issues_and_redeems_a_reward_by_keyboard(page, agent, manager, customer, program):
    add_reward_tier(
        program=program, name="Free coffee", points=300, actor=Actor.of_operator(manager)
    )
    errors: list[str] = []
    # Failed loads are caught as responses: the console's "Failed to load resource" also
    # reports Chromium's own /favicon.ico request, which is not the page's.
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and not m.text.startswith("Failed to load resource")
            and errors.append(m.text)
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
    log_in(page, agent)
    page.goto(f"/accounts/{customer.pk}/")

    tab_to(page, "el.id === 'id_reward-tier'")
    page.keyboard.type("Free")
    expect(page.locator('[data-reward-preview="balance-after"]')).to_have_text("700")
    page.keyboard.press("Tab")
    expect(page.locator("#reward-submit")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.locator("#reward-confirmation")).to_have_text(
        "Issued “Free coffee” for 300 points."
    )
    expect(page.locator("#reward-confirmation")).to_have_count(1)
    expect(page.locator("[data-balance]")).to_have_text("700")
    expect(page.locator("#event-rows tr").first).to_contain_text("Reward tier: Free coffee")
    assert serious_violations(page) == []

    tab_to(page, "el.getAttribute('aria-label') === 'Redeem Free coffee'")
    page.keyboard.press("Enter")

    expect(page.locator("#reward-confirmation")).to_have_text("Redeemed “Free coffee”.")
    expect(page.locator("#no-open-rewards")).to_be_visible()
    expect(page.locator("[data-balance]")).to_have_text("700")
    expect(page.locator("#event-rows tr").first).to_contain_text("Reward redeemed: Free coffee")
    reward = Reward.objects.get(account=customer)
    assert reward.status == "REDEEMED"
    customer.refresh_from_db()
    assert customer.balance == 700
    assert errors == [], errors
