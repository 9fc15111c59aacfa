"""Every console page, as a manager and as an agent: no browser console error, no axe-core
violation of any impact; and the operator's way from the search box to a submitted
adjustment, counted in key presses."""

import uuid

import pytest
from playwright.sync_api import expect

from accounts.models import Program
from ledger.models import LoyaltyEvent
from ledger.services import Actor, add_reward_tier, adjust_points, create_reward, upload_bulk_file
from ledger.services.webhooks import EVENT_TYPES, create_subscription
from loyalty_admin import audit

from .conftest import axe_violations, log_in, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_every_page_is_clean(page, manager, agent, customer, program, reasons):
    Program.objects.filter(pk=program.pk).update(approval_threshold=500)
    adjust_points(
        account=customer, points=700, reason=reasons["REWARD"], actor=Actor.of_operator(agent)
    )
    batch, _ = upload_bulk_file(
        program=program,
        actor=Actor.of_operator(manager),
        filename="ok.csv",
        data=f"email,points,reason\n{customer.email},5,REWARD\nnobody@example.com,5,REWARD\n".encode(),
    )
    audit.record(action="login", actor=agent, summary=f"{agent.email} logged in", ip="127.0.0.1")
    event = LoyaltyEvent.objects.get(account=customer)
    tier = add_reward_tier(
        program=program, name="Free coffee", points=150, actor=Actor.of_operator(manager)
    )
    create_reward(account=customer, tier=tier, actor=Actor.of_operator(agent))
    # Its notifications wait in the log: nothing delivers them in this test.
    subscription = create_subscription(
        notification_url="http://127.0.0.1:9/hook",
        event_types=list(EVENT_TYPES),
        actor=Actor.of_operator(manager),
        name="Till",
    )
    adjust_points(
        account=customer, points=5, reason=reasons["REWARD"], actor=Actor.of_operator(manager)
    )
    seen = watch_console(page)
    log_in(page, manager)
    problems = {}
    for path in (
        "/",
        "/?q=dana",
        f"/accounts/{customer.pk}/",
        f"/events/{event.pk}/",
        "/history/",
        "/approvals/",
        "/audit/",
        "/people/",
        "/people/api-clients/",
        "/reasons/",
        "/bulk/",
        f"/bulk/{batch.pk}/",
        "/program/",
        "/webhooks/",
        f"/webhooks/{subscription.pk}/",
        f"/accounts/{uuid.uuid4()}/",
    ):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        problems[path] = axe_violations(page)
    # What opens within pages: a reversal form, the shortcuts.
    page.goto(f"/accounts/{customer.pk}/")
    page.locator("details.reverse summary").first.click()
    expect(page.get_by_label("Why reverse it?")).to_be_visible()
    problems["reversal form"] = axe_violations(page)
    page.locator("#account-name").click()
    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    problems["shortcuts"] = axe_violations(page)
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts")).to_be_hidden()

    page.context.clear_cookies()
    log_in(page, agent)
    for path in ("/history/", f"/accounts/{customer.pk}/"):
        page.goto(path)
        problems[f"agent {path}"] = axe_violations(page)

    assert {path: found for path, found in problems.items() if found} == {}
    # The 404 above is the page under test, not an error of the page.
    assert [m for m in seen if "404" not in m and "403" not in m] == []


def test_from_the_search_box_to_a_submitted_adjustment_in_four_keys(page, agent, customer):
    log_in(page, agent)
    presses = []

    def press(key: str) -> None:
        presses.append(key)
        page.keyboard.press(key)

    expect(page.locator("#search-q")).to_be_focused()
    page.keyboard.type("dana.b")
    expect(page.locator("a.result")).to_have_count(1)
    press("Enter")  # the only customer found opens
    page.wait_for_url(f"**/accounts/{customer.pk}/")
    expect(page.locator("#id_reason")).to_be_focused()
    press("3")  # the third reason in the list
    expect(page.locator("#id_reason option:checked")).to_have_text(
        "Redeem points for a discount (−)"
    )
    press("Tab")
    page.keyboard.type("100")
    press("Enter")  # submits once the preview says it is ready

    expect(page.locator("#adjust-confirmation")).to_contain_text("New balance: 900.")
    expect(page.locator("#id_reason")).to_be_focused()  # ready for the next one
    assert presses == ["Enter", "3", "Tab", "Enter"]
    customer.refresh_from_db()
    assert customer.balance == 900
    assert LoyaltyEvent.objects.filter(account=customer, points=-100).count() == 1


def test_enter_does_not_submit_what_the_preview_refuses(page, agent, customer):
    log_in(page, agent)
    page.goto(f"/accounts/{customer.pk}/")
    expect(page.locator("#id_reason")).to_be_focused()  # autofocus lands after the first paint
    page.keyboard.press("3")
    page.keyboard.press("Tab")
    page.keyboard.type("1500")
    page.keyboard.press("Enter")

    expect(page.locator('[data-preview="problems"]')).to_contain_text("would leave -500")
    expect(page.locator("#adjust-submit")).to_be_disabled()
    page.wait_for_load_state("networkidle")
    customer.refresh_from_db()
    assert customer.balance == 1000
