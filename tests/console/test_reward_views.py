"""Rewards in the console: managers keep the tiers; agents issue, redeem and delete rewards on
the account page with the same preview → submit-once flow as an adjustment."""

import uuid

import pytest
from django.urls import reverse

from ledger import services
from ledger.models import LoyaltyEvent, Reward, RewardTier
from tests.factories import AccountFactory

from .conftest import HX

pytestmark = pytest.mark.django_db


@pytest.fixture
def coffee(program, manager):
    return services.add_reward_tier(
        program=program, name="Free coffee", points=300, actor=services.Actor.of_operator(manager)
    )


@pytest.fixture
def issued(funded, coffee, agent):
    return services.create_reward(
        account=funded, tier=coffee, actor=services.Actor.of_operator(agent)
    )


def issue_form(tier, token=None) -> dict:
    return {"reward-tier": str(tier.pk), "reward-token": str(token or uuid.uuid4())}


# --- Tiers -----------------------------------------------------------------------------------


def test_it_adds_renames_and_retires_a_tier(manager_client, program):
    added = manager_client.post(
        reverse("reward-tiers"), {"tier-name": "Cake", "tier-points": "500"}, **HX
    )
    tier = RewardTier.objects.get(program=program)
    renamed = manager_client.post(
        reverse("reward-tier-rename", args=[tier.pk]), {f"{tier.pk}-name": "Cake slice"}, **HX
    )
    retired = manager_client.post(reverse("reward-tier-retire", args=[tier.pk]), **HX)

    assert "Added “Cake” for 500." in added.text
    assert "Renamed “Cake” to “Cake slice”." in renamed.text
    assert "Retired “Cake slice”." in retired.text
    assert '<section id="reward-tiers"' in retired.text and "<html" not in retired.text
    tier.refresh_from_db()
    assert (tier.name, tier.points, tier.active) == ("Cake slice", 500, False)


def test_the_program_page_loads_the_tiers(manager_client, coffee):
    page = manager_client.get(reverse("program-settings"))
    tiers = manager_client.get(reverse("reward-tiers"))

    assert f'hx-get="{reverse("reward-tiers")}"' in page.text
    assert 'value="Free coffee"' in tiers.text


def test_a_tier_without_points_is_refused_next_to_the_field(manager_client, program):
    response = manager_client.post(
        reverse("reward-tiers"), {"tier-name": "Cake", "tier-points": "0"}, **HX
    )

    assert response.status_code == 422
    assert "greater than or equal to 1" in response.text
    assert not RewardTier.objects.exists()


def test_agents_cannot_change_tiers(agent_client, coffee):
    assert agent_client.get(reverse("reward-tiers")).status_code == 403
    assert agent_client.post(reverse("reward-tier-retire", args=[coffee.pk])).status_code == 403
    coffee.refresh_from_db()
    assert coffee.active


def test_a_tier_of_another_program_is_a_404(manager_client, manager):
    other = services.create_program(name="Other")
    tier = services.add_reward_tier(
        program=other, name="Tea", points=10, actor=services.Actor.of_operator(manager)
    )

    assert manager_client.post(reverse("reward-tier-retire", args=[tier.pk])).status_code == 404


# --- Issuing ---------------------------------------------------------------------------------


def test_the_account_page_offers_the_tiers_and_lists_open_rewards(agent_client, issued, funded):
    response = agent_client.get(reverse("account", args=[funded.pk]))

    assert '<section id="rewards"' in response.text
    assert "Free coffee (300 points)" in response.text
    assert f'id="reward-{issued.pk}"' in response.text
    assert "Reward tier: Free coffee" in response.text


def test_the_preview_shows_the_balance_after(agent_client, funded, coffee):
    response = agent_client.post(
        reverse("reward-preview", args=[funded.pk]), issue_form(coffee), **HX
    )

    assert response.status_code == 200
    assert 'data-reward-preview="balance-after">700<' in response.text
    assert "Ready to issue." in response.text


def test_the_preview_shows_a_short_balance(agent_client, account, coffee):
    response = agent_client.post(
        reverse("reward-preview", args=[account.pk]), issue_form(coffee), **HX
    )

    assert "has 0 points; “Free coffee” needs 300." in response.text
    assert 'id="reward-submit" class="button primary" disabled' in response.text


def test_issuing_twice_with_one_token_issues_once(agent_client, funded, coffee):
    form = issue_form(coffee)
    first = agent_client.post(reverse("reward-create", args=[funded.pk]), form, **HX)
    again = agent_client.post(reverse("reward-create", args=[funded.pk]), form, **HX)

    assert first.status_code == again.status_code == 200
    assert first.text.count("Issued “Free coffee” for 300 points.") == 1
    assert 'id="account-summary" class="card summary"' in first.text  # the balance, out of band
    funded.refresh_from_db()
    assert funded.balance == 700
    assert Reward.objects.count() == 1


def test_a_refused_issue_says_why_and_writes_nothing(agent_client, account, coffee):
    response = agent_client.post(
        reverse("reward-create", args=[account.pk]), issue_form(coffee), **HX
    )

    assert response.status_code == 422
    assert "needs 300" in response.text
    assert not Reward.objects.exists()


def test_without_htmx_issuing_redirects_to_the_account(agent_client, funded, coffee):
    response = agent_client.post(reverse("reward-create", args=[funded.pk]), issue_form(coffee))

    assert response.status_code == 302
    assert response["Location"] == reverse("account", args=[funded.pk])
    page = agent_client.get(response["Location"])
    assert "Issued “Free coffee” for 300 points." in page.text


def test_issuing_on_a_foreign_account_is_a_404(agent_client, coffee):
    other = services.create_program(name="Other")
    stranger = AccountFactory(program=other)

    response = agent_client.post(reverse("reward-create", args=[stranger.pk]), issue_form(coffee))

    assert response.status_code == 404


def test_issuing_needs_a_post_and_a_login(agent_client, client, funded, coffee):
    assert agent_client.get(reverse("reward-create", args=[funded.pk])).status_code == 405
    response = client.post(reverse("reward-create", args=[funded.pk]), issue_form(coffee))
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert not Reward.objects.exists()


# --- Redeeming and deleting ------------------------------------------------------------------


def test_an_agent_redeems_a_reward(agent_client, issued, funded):
    response = agent_client.post(
        reverse("reward-redeem", args=[issued.pk]), {"token": str(uuid.uuid4())}, **HX
    )

    assert response.status_code == 200
    assert "Redeemed “Free coffee”." in response.text
    assert "No open rewards." in response.text
    issued.refresh_from_db()
    assert issued.status == "REDEEMED"
    funded.refresh_from_db()
    assert funded.balance == 700


def test_an_agent_deletes_a_reward_and_the_points_return(agent_client, issued, funded):
    response = agent_client.post(
        reverse("reward-delete", args=[issued.pk]), {"token": str(uuid.uuid4())}, **HX
    )

    assert "Deleted “Free coffee”: 300 points returned to the balance." in response.text
    funded.refresh_from_db()
    assert funded.balance == 1000
    assert funded.events.filter(type=LoyaltyEvent.Type.DELETE_REWARD).count() == 1


def test_deleting_a_redeemed_reward_is_refused_in_the_card(agent_client, issued, agent):
    services.redeem_reward(reward=issued, actor=services.Actor.of_operator(agent))

    response = agent_client.post(
        reverse("reward-delete", args=[issued.pk]), {"token": str(uuid.uuid4())}, **HX
    )

    assert response.status_code == 422
    assert "This reward was redeemed already; it cannot be deleted." in response.text
    issued.refresh_from_db()
    assert issued.status == "REDEEMED"


def test_a_reward_of_another_program_is_a_404(agent_client, manager, agent):
    other = services.create_program(name="Other")
    stranger = AccountFactory(program=other)
    tier = services.add_reward_tier(
        program=other, name="Tea", points=10, actor=services.Actor.of_operator(manager)
    )
    services.adjust_points(
        account=stranger,
        points=10,
        reason=other.reasons.get(code="REWARD"),
        actor=services.Actor.of_operator(manager),
    )
    reward = services.create_reward(
        account=stranger, tier=tier, actor=services.Actor.of_operator(agent)
    )

    response = agent_client.post(
        reverse("reward-redeem", args=[reward.pk]), {"token": str(uuid.uuid4())}
    )

    assert response.status_code == 404
    reward.refresh_from_db()
    assert reward.status == "ISSUED"


def test_reward_events_show_in_the_explorer_and_the_export(manager_client, issued):
    history = manager_client.get(reverse("history"), {"type": "CREATE_REWARD"})
    export = manager_client.get(reverse("history-export"), {"type": "CREATE_REWARD"})

    assert "Reward tier: Free coffee" in history.text
    body = b"".join(export.streaming_content).decode()
    assert "reward_tier" in body.splitlines()[0]
    assert f"{issued.pk},Free coffee" in body
