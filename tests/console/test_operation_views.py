"""The account page's merge and transfer dialogs, the merged account's page and search, the
daily limit in the adjustment preview."""

import re

import pytest
from django.urls import reverse

from accounts.models import LoyaltyAccount
from ledger.models import ApprovalRequest, LoyaltyEvent
from ledger.services import Actor, adjust_points, create_program, merge_accounts

from ..factories import AccountFactory
from .conftest import HX

TOKEN = "8d5e1c3e-2f0a-4b8e-9a53-0c6f1f0f7a11"


@pytest.fixture
def duplicate(program, reasons, manager):
    account = AccountFactory(program=program, email="dup@example.com", phone="+15550009999")
    adjust_points(
        account=account, points=40, reason=reasons["REWARD"], actor=Actor.of_operator(manager)
    )
    return account


def token_of(response) -> str:
    return re.search(r'name="token" value="([^"]+)"', response.content.decode()).group(1)


def url(name, account):
    return reverse(name, args=[account.pk])


def test_it_finds_open_candidates_but_not_this_account(agent_client, funded, duplicate):
    response = agent_client.get(
        url("operation-candidates", funded), {"q": "dup@", "for": "merge"}, **HX
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert f'value="{duplicate.pk}"' in html and f'value="{funded.pk}"' not in html
    assert 'id="merge-candidates"' in html


def test_it_previews_a_merge_with_both_accounts_and_the_result(agent_client, funded, duplicate):
    response = agent_client.post(url("merge-preview", funded), {"other": duplicate.pk}, **HX)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-preview="merged-balance">1,040<' in html
    assert 'data-preview="merged-lifetime">1,040<' in html
    assert 'id="merge-submit"' in html
    assert LoyaltyEvent.objects.filter(account=funded).count() == 1  # nothing written


def test_it_merges_and_lands_on_the_surviving_account(agent_client, funded, duplicate):
    preview = agent_client.post(url("merge-preview", funded), {"other": duplicate.pk}, **HX)
    token = token_of(preview)

    response = agent_client.post(
        url("merge-create", funded), {"other": duplicate.pk, "token": token}, **HX
    )
    again = agent_client.post(
        url("merge-create", funded), {"other": duplicate.pk, "token": token}, **HX
    )

    assert response.status_code == again.status_code == 204
    assert response["HX-Redirect"] == url("account", funded)
    funded.refresh_from_db()
    assert funded.balance == 1040
    assert LoyaltyEvent.objects.filter(type="MERGE_IN").count() == 1
    page = agent_client.get(url("account", funded)).content.decode()
    assert "Merged from" in page and f"Merged {duplicate.display_name} into this account" in page


def test_the_merged_account_says_where_its_points_went(agent_client, funded, duplicate, manager):
    merge_accounts(source=duplicate, target=funded, actor=Actor.of_operator(manager))

    page = agent_client.get(url("account", duplicate)).content.decode()
    found = agent_client.get(reverse("search"), {"q": "dup@example.com"}).content.decode()

    assert "Merged into" in page and url("account", funded) in page
    assert 'id="merge"' not in page
    assert "Merged into" in found and url("account", funded) in found


def test_an_adjustment_of_a_merged_account_is_refused_next_to_the_form(
    agent_client, funded, duplicate, manager, reasons
):
    merge_accounts(source=duplicate, target=funded, actor=Actor.of_operator(manager))

    response = agent_client.post(
        url("adjustment-create", duplicate),
        {
            "reason": reasons["REWARD"].pk,
            "amount": 5,
            "token": "8d5e1c3e-2f0a-4b8e-9a53-0c6f1f0f7a11",
        },
        **HX,
    )

    assert response.status_code == 422
    assert "was merged into" in response.content.decode()


def test_it_refuses_get_and_foreign_accounts(agent_client, funded):
    foreign = AccountFactory(program=create_program(name="Elsewhere"))
    assert agent_client.get(url("merge-create", funded)).status_code == 405
    response = agent_client.post(url("merge-preview", funded), {"other": foreign.pk}, **HX)
    assert response.status_code == 404


def test_it_asks_for_the_duplicate(agent_client, funded):
    response = agent_client.post(url("merge-preview", funded), {}, **HX)
    assert "Choose the duplicate account" in response.content.decode()


def test_it_transfers_after_a_preview(agent_client, funded, duplicate):
    body = {"other": duplicate.pk, "amount": 300, "reason": "partner"}
    preview = agent_client.post(url("transfer-preview", funded), body, **HX)
    assert 'data-preview="target-balance">340<' in preview.content.decode()

    response = agent_client.post(
        url("transfer-create", funded), {**body, "token": token_of(preview)}, **HX
    )

    assert response.status_code == 204
    duplicate.refresh_from_db()
    assert duplicate.balance == 340


def test_a_transfer_past_the_daily_limit_is_sent_to_a_manager(
    program, agent_client, agent, funded, duplicate
):
    program.agent_daily_limit = 200
    program.save()
    body = {"other": duplicate.pk, "amount": 300, "reason": "partner"}

    preview = agent_client.post(url("transfer-preview", funded), body, **HX)
    agent_client.post(url("transfer-create", funded), body, **HX)

    assert "This takes you to 300 of your 200 points today; it will go to a manager." in (
        preview.content.decode()
    )
    assert ApprovalRequest.objects.get().kind == "TRANSFER"
    assert LoyaltyAccount.objects.get(pk=duplicate.pk).balance == 40


def test_the_adjustment_preview_says_the_daily_limit_in_words(
    program, agent_client, funded, reasons
):
    program.agent_daily_limit = 50
    program.save()

    response = agent_client.post(
        url("adjustment-preview", funded),
        {"reason": reasons["REWARD"].pk, "amount": 60, "token": TOKEN},
        **HX,
    )

    assert "This takes you to 60 of your 50 points today; it will go to a manager." in (
        response.content.decode()
    )


def test_managers_see_each_agents_use_on_the_people_page(
    program, manager_client, agent, funded, reasons
):
    program.agent_daily_limit = 5000
    program.save()
    adjust_points(
        account=funded, points=1200, reason=reasons["REWARD"], actor=Actor.of_operator(agent)
    )

    page = manager_client.get(reverse("people")).content.decode()

    row = re.search(rf'<tr data-agent="{re.escape(agent.email)}".*?</tr>', page, re.S).group(0)
    assert "1,200" in row and "5,000" in row


def test_a_held_merge_shows_in_the_queue_and_is_approved(
    program, agent, manager_client, funded, duplicate
):
    program.approval_threshold = 10
    program.save()
    held = merge_accounts(source=duplicate, target=funded, actor=Actor.of_operator(agent))

    queue = manager_client.get(reverse("approvals")).content.decode()
    response = manager_client.post(reverse("approval-approve", args=[held.approval.pk]), **HX)

    assert f"Merge into {funded.display_name}" in queue
    assert response.status_code == 200
    duplicate.refresh_from_db()
    assert duplicate.merged_into == funded
