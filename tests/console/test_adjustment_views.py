import uuid

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Program
from ledger.models import ApprovalRequest, LoyaltyEvent
from tests.factories import AccountFactory

from .conftest import HX

pytestmark = pytest.mark.django_db


def _form(reason, amount, **extra) -> dict:
    return {
        "reason": reason.pk,
        "amount": amount,
        "history_title": "",
        "note": "",
        "visible_to_customer": "on",
        "token": str(uuid.uuid4()),
        **extra,
    }


def _preview(client, account, data, **headers):
    return client.post(reverse("adjustment-preview", args=[account.pk]), data, **headers)


def _submit(client, account, data, **headers):
    return client.post(reverse("adjustment-create", args=[account.pk]), data, **headers)


# --- Preview --------------------------------------------------------------------------------


def test_it_previews_the_balance_and_points_earned_after(agent_client, funded, reasons):
    response = _preview(agent_client, funded, _form(reasons["REDEEM_DISCOUNT"], 300), **HX)

    assert response.status_code == 200
    assert response.text.strip().startswith('<div id="preview"')
    assert 'data-preview="balance-before">1,000<' in response.text
    assert 'data-preview="balance-after">700<' in response.text
    assert 'data-preview="lifetime-after">1,000<' in response.text
    assert "Ready to submit." in response.text
    assert "disabled" not in response.text


def test_it_previews_an_overdraft_and_disables_submit(agent_client, funded, reasons):
    response = _preview(agent_client, funded, _form(reasons["REDEEM_DISCOUNT"], 1500), **HX)

    assert 'data-preview="balance-after">-500<' in response.text
    assert "removing 1,500 would leave -500" in response.text
    assert " disabled>" in response.text
    assert LoyaltyEvent.objects.filter(account=funded).count() == 1


def test_it_previews_an_adjustment_above_the_approval_threshold(agent_client, funded, reasons):
    Program.objects.filter(pk=funded.program_id).update(approval_threshold=100)

    response = _preview(agent_client, funded, _form(reasons["REWARD"], 101), **HX)

    assert "need a manager" in response.text
    # Submitting sends it to a manager (issue 6) rather than being refused.
    assert ">Request approval</button>" in response.text
    assert " disabled>" not in response.text


def test_it_previews_an_inactive_reason(agent_client, funded, reasons):
    reasons["REWARD"].active = False
    reasons["REWARD"].save()

    response = _preview(agent_client, funded, _form(reasons["REWARD"], 5), **HX)

    assert "The reason “Reward customer” is not in use." in response.text


def test_it_asks_for_the_missing_fields_in_the_preview(agent_client, funded, reasons):
    response = _preview(agent_client, funded, _form(reasons["REWARD"], ""), **HX)

    assert "Choose a reason and an amount" in response.text


def test_it_renders_the_whole_page_for_a_preview_without_htmx(agent_client, funded, reasons):
    response = _preview(agent_client, funded, _form(reasons["REDEEM_DISCOUNT"], 300))

    assert "<html" in response.text
    assert 'data-preview="balance-after">700<' in response.text


def test_it_refuses_get_on_the_preview(agent_client, funded):
    assert agent_client.get(reverse("adjustment-preview", args=[funded.pk])).status_code == 405


# --- Submit ---------------------------------------------------------------------------------


def test_it_adjusts_and_updates_the_page_in_place(agent_client, agent, funded, reasons):
    data = _form(reasons["REDEEM_DISCOUNT"], 300, note="Coupon", history_title="Discount")

    response = _submit(agent_client, funded, data, **HX)

    funded.refresh_from_db()
    event = LoyaltyEvent.objects.get(account=funded, points=-300)
    assert (funded.balance, funded.lifetime_points) == (700, 1000)
    assert (event.source, event.actor, event.note, event.history_title) == (
        "ADMIN_UI",
        agent,
        "Coupon",
        "Discount",
    )
    assert response.status_code == 200
    assert "−300 points" in response.text or "-300 points" in response.text
    assert "New balance: 700." in response.text
    assert 'id="account-summary"' in response.text and 'hx-swap-oob="true"' in response.text
    assert "data-balance>700<" in response.text
    assert f'id="event-{event.pk}"' in response.text
    assert data["token"] not in response.text  # the form starts over with a fresh token
    assert 'name="token"' in response.text


def test_it_defaults_the_title_to_the_reasons_label(agent_client, funded, reasons):
    _submit(agent_client, funded, _form(reasons["REDEEM_DISCOUNT"], 1), **HX)

    event = LoyaltyEvent.objects.get(account=funded, points=-1)
    assert event.history_title == "Redeem points for a discount"


def test_it_redirects_after_a_plain_post(agent_client, funded, reasons):
    response = _submit(agent_client, funded, _form(reasons["REWARD"], 5))

    assert response.status_code == 302
    assert response["Location"] == reverse("account", args=[funded.pk])
    page = agent_client.get(response["Location"]).text
    assert "+5 points for “Reward customer”. New balance: 1,005." in page


def test_it_applies_one_token_once(agent_client, funded, reasons):
    data = _form(reasons["REDEEM_DISCOUNT"], 300)

    first = _submit(agent_client, funded, data, **HX)
    second = _submit(agent_client, funded, data, **HX)
    third = _submit(agent_client, funded, data)  # the browser's back and resubmit

    funded.refresh_from_db()
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 302)
    assert LoyaltyEvent.objects.filter(account=funded, points=-300).count() == 1
    assert funded.balance == 700


def test_it_refuses_a_spent_token_with_other_values_and_offers_a_new_one(
    agent_client, funded, reasons
):
    data = _form(reasons["REDEEM_DISCOUNT"], 300)
    _submit(agent_client, funded, data, **HX)

    response = _submit(agent_client, funded, {**data, "amount": 400}, **HX)

    funded.refresh_from_db()
    assert response.status_code == 422
    assert "already submitted with other values" in response.text
    assert data["token"] not in response.text
    assert funded.balance == 700


def test_it_shows_an_overdraft_next_to_the_amount_and_writes_nothing(agent_client, funded, reasons):
    data = _form(reasons["REDEEM_DISCOUNT"], 1500, note="typed note", history_title="typed title")

    response = _submit(agent_client, funded, data, **HX)

    funded.refresh_from_db()
    assert response.status_code == 422
    assert funded.balance == 1000
    assert LoyaltyEvent.objects.filter(account=funded).count() == 1
    assert 'id="id_amount_error"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert 'aria-describedby="id_amount_error"' in response.text
    assert "would leave -1,500" not in response.text  # the message is about this customer
    assert "removing 1,500 would leave -500." in response.text
    assert 'value="1500"' in response.text
    assert "typed note" in response.text
    assert 'value="typed title"' in response.text
    assert data["token"] in response.text  # same token: nothing was spent


def test_it_rerenders_the_whole_page_with_errors_without_htmx(agent_client, funded, reasons):
    response = _submit(agent_client, funded, _form(reasons["REDEEM_DISCOUNT"], 1500))

    assert response.status_code == 422
    assert "<html" in response.text
    assert 'id="id_amount_error"' in response.text


def test_it_requires_a_note_where_the_reason_does(agent_client, funded, reasons):
    reasons["REWARD"].requires_note = True
    reasons["REWARD"].save()

    response = _submit(agent_client, funded, _form(reasons["REWARD"], 5), **HX)

    assert 'id="id_note_error"' in response.text
    assert "A note is required for “Reward customer”." in response.text
    assert LoyaltyEvent.objects.filter(account=funded).count() == 1


@pytest.mark.parametrize("amount", ["0", "-5", "abc", ""])
def test_it_refuses_an_amount_that_is_not_positive(agent_client, funded, reasons, amount):
    response = _submit(agent_client, funded, _form(reasons["REWARD"], amount), **HX)

    assert response.status_code == 422
    assert 'id="id_amount_error"' in response.text
    assert LoyaltyEvent.objects.filter(account=funded).count() == 1


def test_it_sends_an_agent_adjustment_above_the_threshold_for_approval(
    agent_client, manager_client, funded, reasons
):
    Program.objects.filter(pk=funded.program_id).update(approval_threshold=100)

    requested = _submit(agent_client, funded, _form(reasons["REWARD"], 101), **HX)
    allowed = _submit(manager_client, funded, _form(reasons["REWARD"], 101), **HX)

    funded.refresh_from_db()
    # Issue 6: the agent's adjustment waits for a manager instead of being refused.
    assert requested.status_code == 200
    assert "Sent to a manager for approval" in requested.text
    assert ApprovalRequest.objects.get(account=funded).status == "PENDING"
    assert allowed.status_code == 200
    assert funded.balance == 1101
    assert LoyaltyEvent.objects.filter(account=funded).count() == 2


def test_it_ignores_allow_negative_crafted_by_an_agent(agent_client, funded, reasons):
    data = _form(reasons["REDEEM_DISCOUNT"], 1500, allow_negative="on")

    response = _submit(agent_client, funded, data, **HX)

    funded.refresh_from_db()
    assert response.status_code == 422
    assert funded.balance == 1000
    assert LoyaltyEvent.objects.filter(account=funded).count() == 1


def test_it_lets_a_manager_allow_a_negative_balance(manager_client, funded, reasons):
    data = _form(reasons["REDEEM_DISCOUNT"], 1500, allow_negative="on")

    response = _submit(manager_client, funded, data, **HX)

    funded.refresh_from_db()
    assert response.status_code == 200
    assert funded.balance == -500


def test_it_refuses_a_reason_of_another_program(agent_client, funded):
    other = Program.objects.create(name="Other", alias="other")
    foreign_reason = other.reasons.create(code="X", label="X", sign=1, affects_lifetime=True)

    response = _submit(agent_client, funded, _form(foreign_reason, 5), **HX)

    assert 'id="id_reason_error"' in response.text
    assert LoyaltyEvent.objects.filter(account=funded).count() == 1


def test_it_answers_404_for_an_unknown_or_foreign_account(agent_client, reasons):
    foreign = AccountFactory(program=Program.objects.create(name="Other", alias="other"))
    data = _form(reasons["REWARD"], 5)

    assert _submit(agent_client, foreign, data).status_code == 404
    assert _preview(agent_client, foreign, data).status_code == 404
    unknown = reverse("adjustment-create", args=[uuid.uuid4()])
    assert agent_client.post(unknown, data).status_code == 404
    assert LoyaltyEvent.objects.count() == 0


def test_it_refuses_get(agent_client, funded):
    assert agent_client.get(reverse("adjustment-create", args=[funded.pk])).status_code == 405


def test_it_redirects_anonymous_posts_to_login(client, funded, reasons):
    response = _submit(client, funded, _form(reasons["REWARD"], 5))

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert LoyaltyEvent.objects.filter(account=funded).count() == 1


def test_it_enforces_csrf(agent, funded, reasons):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)

    response = _submit(client, funded, _form(reasons["REWARD"], 5), **HX)

    assert response.status_code == 403
    assert LoyaltyEvent.objects.filter(account=funded).count() == 1
