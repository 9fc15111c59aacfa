"""What an operator sees after each action, in a real browser: each message once, the real
balance after a refusal, a chart that survives a filter, pages that explain themselves."""

import uuid

import pytest
from playwright.sync_api import expect

from accounts.models import Program
from ledger.models import LoyaltyEvent
from ledger.services import Actor, adjust_points, approve_request, reverse_event, upload_bulk_file
from tests.factories import AccountFactory, operator

from .conftest import CHART_HAS_DATA, axe_violations, log_in, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def reward_times(customer, reasons, manager, times: int) -> None:
    """`times` rewards of 1, 2, 3… points for the customer, by the manager."""
    for points in range(1, times + 1):
        adjust_points(
            account=customer,
            points=points,
            reason=reasons["REWARD"],
            actor=Actor.of_operator(manager),
        )


@pytest.fixture
def busy_customer(customer, reasons, manager):
    """Dana with a page of history: twenty-one events."""
    reward_times(customer, reasons, manager, 20)
    customer.refresh_from_db()
    return customer


def test_a_confirmation_appears_once_after_a_submit(page, agent, busy_customer):
    log_in(page, agent)
    page.goto(f"/accounts/{busy_customer.pk}/")
    page.select_option("#id_reason", label="Reward customer (+)")
    page.fill("#id_amount", "37")
    expect(page.locator("#preview")).to_contain_text("Ready to submit.")
    page.click("#adjust-submit")

    expect(page.locator("#adjust-confirmation")).to_contain_text("New balance: 1,247.")
    expect(page.locator("#event-rows tr").first).to_contain_text("+37")
    expect(page.get_by_text("New balance:")).to_have_count(1)


def test_a_confirmation_appears_once_after_a_reversal(page, manager, busy_customer):
    log_in(page, manager)
    page.goto(f"/accounts/{busy_customer.pk}/")
    first = page.locator("#event-rows tr").first
    first.locator("details.reverse summary").click()
    first.get_by_label("Why reverse it?").fill("Given twice")
    first.get_by_role("button", name="Reverse +20").click()

    expect(page.locator("#account-notice")).to_contain_text("Reversed: -20 points.")
    expect(page.locator("[data-balance]")).to_have_text("1,190")
    expect(page.get_by_text("Reversed: ")).to_have_count(1)


def test_a_refused_reversal_shows_the_balance_as_it_now_is(page, manager, busy_customer):
    log_in(page, manager)
    page.goto(f"/accounts/{busy_customer.pk}/")
    expect(page.locator("[data-balance]")).to_have_text("1,210")
    first = page.locator("#event-rows tr").first
    first.locator("details.reverse summary").click()
    first.get_by_label("Why reverse it?").fill("Given twice")
    # Meanwhile, another tab reverses the same event.
    newest = LoyaltyEvent.objects.filter(account=busy_customer).order_by("-created_at").first()
    reverse_event(event=newest, note="Other tab", actor=Actor.of_operator(manager))
    first.get_by_role("button", name="Reverse +20").click()

    expect(page.locator("#account-notice")).to_contain_text("already been reversed")
    expect(page.locator("[data-balance]")).to_have_text("1,190")
    expect(page.locator("#event-rows tr").first).to_contain_text("Other tab")
    expect(page.locator("#event-rows tr").first).to_contain_text("-20")


@pytest.fixture
def held(customer, reasons, agent):
    Program.objects.filter(pk=customer.program_id).update(approval_threshold=500)
    customer.refresh_from_db()

    def ask(points: int):
        return adjust_points(
            account=customer,
            points=points,
            reason=reasons["REWARD"],
            actor=Actor.of_operator(agent),
        ).approval

    return ask


def test_approving_twice_says_who_decided_and_when(browser, live_server, manager, held):
    approval = held(600)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    context.set_default_timeout(5000)
    first, second = context.new_page(), None
    log_in(first, manager)
    second = context.new_page()
    first.goto("/approvals/")
    second.goto("/approvals/")
    first.get_by_role("button", name="Approve +600").click()
    expect(first.locator(".approval-done")).to_contain_text("Approved: +600 points.")

    second.get_by_role("button", name="Approve +600").click()
    done = second.locator(f"#approval-{approval.pk}")
    expect(done).to_contain_text(f"This request was already approved by {manager.email} on ")
    expect(done).not_to_contain_text("Approved: +600")
    assert LoyaltyEvent.objects.filter(points=600).count() == 1
    context.close()


def test_rejecting_a_decided_request_says_who_decided_and_when(page, manager, held):
    approval = held(700)
    other = operator("manager")
    log_in(page, manager)
    page.goto("/approvals/")
    approve_request(request=approval, actor=Actor.of_operator(other))
    item = page.locator(f"#approval-{approval.pk}")
    item.locator("details.reject summary").click()
    item.get_by_label("Why reject it?").fill("Too much")
    item.get_by_role("button", name="Reject").click()

    expect(item).to_contain_text(f"This request was already approved by {other.email} on ")
    expect(item).not_to_contain_text("Rejected. Nothing changed")


def test_the_chart_is_drawn_again_after_a_filter(page, manager, busy_customer, reasons):
    log_in(page, manager)
    page.goto("/history/")
    page.wait_for_function(CHART_HAS_DATA)
    # The totals come after the page, once, in place of the line that says they are coming.
    expect(page.locator(".totals")).to_have_count(1)
    expect(page.locator('[data-total="count"]')).to_have_text(
        f"{LoyaltyEvent.objects.filter(program_id=busy_customer.program_id).count():,}"
    )
    expect(page.get_by_text("Counting the matching events…")).to_have_count(0)

    page.select_option("#id_sign", "added")
    page.wait_for_url("**sign=added**")
    expect(page.locator("#history-results")).to_contain_text("Reward customer")
    page.wait_for_function(CHART_HAS_DATA)
    assert (
        page.evaluate(
            "Chart.getChart(document.querySelector('canvas[data-chart]')).data.datasets[0].data.length"
        )
        >= 1
    )


def test_older_events_keep_the_totals_in_place(page, manager, customer, reasons):
    reward_times(customer, reasons, manager, 55)
    events = LoyaltyEvent.objects.filter(program_id=customer.program_id).count()
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/history/summary" in r.url else None)
    seen = watch_console(page)
    log_in(page, manager)
    page.goto("/history/")
    expect(page.locator('[data-total="count"]')).to_have_text(f"{events:,}")
    expect(page.locator("tr[id^='event-']")).to_have_count(50)

    page.get_by_role("link", name="Older events").click()
    page.wait_for_url("**cursor=**")

    expect(page.locator("tr[id^='event-']")).to_have_count(events - 50)
    expect(page.get_by_role("link", name="Newest events")).to_be_visible()
    expect(page.locator(".totals")).to_have_count(1)
    expect(page.locator('[data-total="count"]')).to_have_text(f"{events:,}")
    assert len(asked) == 1  # the totals were counted once, for both pages
    assert seen == []


def test_search_shows_what_tells_people_apart(page, agent, program):
    for n, domain in enumerate(
        ("example.com", "example.org", "mail.example.net", "ali.family.example")
    ):
        AccountFactory(
            program=program,
            first_name="Emma",
            last_name="Ali",
            email=f"emma.ali.{n}.personal-address@{domain}",
            customer_id=f"CUST-000174{n}",
        )
    log_in(page, agent)
    page.fill("#search-q", "emma.ali")
    expect(page.locator("a.result")).to_have_count(4)

    for email in page.locator(".result-email").all():
        assert email.evaluate("e => e.scrollWidth <= e.clientWidth"), email.text_content()
    for customer_id in page.locator(".result-id").all():
        assert customer_id.evaluate("e => e.getClientRects().length === 1 && e.offsetHeight < 30")
    expect(page.locator(".result-email mark").first).to_have_text("emma.ali")
    expect(page.locator(".result-email").nth(2)).to_have_text(
        "emma.ali.2.personal-address@mail.example.net"
    )
    assert axe_violations(page) == []


def test_forbidden_and_missing_pages_explain_and_lead_back(page, agent, program):
    log_in(page, agent)
    response = page.goto("/history/")
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("You cannot open this page")
    expect(page.locator("main")).to_contain_text("managers")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_role("link", name="Back to the customer search").click()
    page.wait_for_url("**/")

    response = page.goto(f"/accounts/{uuid.uuid4()}/")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.get_by_role("link", name="Back to the customer search")).to_be_visible()
    assert axe_violations(page) == []


def test_the_reversal_form_loads_when_opened(page, manager, busy_customer):
    log_in(page, manager)
    response = page.goto("/history/")
    html = response.text()
    assert "Why reverse it?" not in html
    assert len(html.encode()) < 60_000
    response = page.goto(f"/accounts/{busy_customer.pk}/")
    assert len(response.body()) < 30_000
    assert "Why reverse it?" not in response.text()

    page.goto("/history/")
    row = page.locator("table.events tbody tr").first
    row.locator("details.reverse summary").click()
    expect(row.get_by_label("Why reverse it?")).to_be_focused()
    row.get_by_label("Why reverse it?").fill("Mistake")
    row.get_by_role("button", name="Reverse +20").click()
    expect(row).to_contain_text("Reversed: -20 points.")
    expect(page.get_by_text("Reversed: ")).to_have_count(1)


def test_one_customer_found_is_singular(page, agent, customer, program):
    AccountFactory(program=program, email="dana.other@example.com")
    log_in(page, agent)
    page.fill("#search-q", "dana.brooks")
    expect(page.locator("a.result")).to_have_count(1)
    expect(page.locator("#results [role=status]")).to_have_text("1 customer found.")
    page.fill("#search-q", "dana.")
    expect(page.locator("a.result")).to_have_count(2)
    expect(page.locator("#results [role=status]")).to_have_text("2 customers found.")


def test_the_manager_header_is_one_line_at_1280_px(page, program, held):
    held(600)  # a count beside "Approvals"
    manager = operator("manager", username="jacqueline.vanderberg-okonkwo@example.com")
    log_in(page, manager)
    page.goto("/history/")
    tops = page.eval_on_selector_all(
        ".site-header-inner > *, .site-nav a",
        "elements => elements.map(e => {"
        " const box = e.getBoundingClientRect(); return Math.round(box.top + box.height / 2); })",
    )
    assert max(tops) - min(tops) <= 4, tops


def test_bulk_totals_count_only_valid_rows(page, manager, customer, program):
    data = (
        "email,points,reason\n"
        f"{customer.email},-10,REDEEM_DISCOUNT\n"
        f"{customer.email},25,REWARD\n"
        "nobody@example.com,-1000000,REDEEM_DISCOUNT\n"
        "nobody@example.com,500000,REWARD\n"
    )
    batch, _ = upload_bulk_file(
        program=program, actor=Actor.of_operator(manager), filename="mixed.csv", data=data.encode()
    )
    log_in(page, manager)
    page.goto(f"/bulk/{batch.pk}/")
    totals = page.locator(".bulk-totals")
    expect(totals.locator("div", has_text="Points removed").locator("dd")).to_have_text("−10")
    expect(totals.locator("div", has_text="Points added").locator("dd")).to_have_text("+25")
    expect(page.locator("#batch-status")).to_contain_text("2 problems")


def test_a_preview_logs_no_console_error(page, agent, customer):
    seen = watch_console(page)
    log_in(page, agent)
    page.goto(f"/accounts/{customer.pk}/")
    page.select_option("#id_reason", label="Redeem points for a discount (−)")
    page.fill("#id_amount", "5")
    expect(page.locator('[data-preview="balance-after"]')).to_have_text("995")
    page.fill("#id_amount", "7")
    expect(page.locator('[data-preview="balance-after"]')).to_have_text("993")
    assert seen == []
