"""A manager adds a webhook subscription in a real browser, sees its key once, sends a test to
a receiver on loopback and sees the delivery in the log."""

import pytest
from playwright.sync_api import expect

from ledger.models import WebhookSubscription

from .conftest import log_in, serious_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_subscribes_tests_and_reads_the_log(page, manager, receiver, program):
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    log_in(page, manager)
    page.click("nav >> text=Webhooks")
    page.fill("#id_name", "Till")
    page.fill("#id_notification_url", receiver.url)
    page.click("text=Add subscription")

    key = WebhookSubscription.objects.get().signature_key
    expect(page.locator("[data-secret]")).to_have_text(key)
    page.click("table a >> text=Till")
    page.wait_for_url("**/webhooks/wbhk_*/")
    expect(page.locator("body")).not_to_contain_text(key)

    page.select_option("#test-type", "loyalty.account.updated")
    page.click("text=Send test")
    expect(page.locator(".messages, [role=status]").first).to_contain_text(
        "the receiver answered 200"
    )
    expect(page.locator("#delivery-log")).to_contain_text("Delivered")
    assert receiver.received[0].payload["type"] == "loyalty.account.updated"
    assert serious_violations(page) == []
    assert errors == []
