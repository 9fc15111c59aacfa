import uuid

import pytest
from django.urls import reverse

from accounts.models import Program
from ledger.models import LoyaltyEvent
from ledger.services import Actor, adjust_points
from tests.factories import AccountFactory, api_client

from .conftest import HX

pytestmark = pytest.mark.django_db


def test_it_shows_identity_balance_points_earned_and_history(agent_client, funded, manager):
    response = agent_client.get(reverse("account", args=[funded.pk]))

    assert response.status_code == 200
    page = response.text
    assert funded.display_name in page
    assert funded.email in page
    assert "data-balance>1,000<" in page
    assert "data-lifetime>1,000<" in page
    assert "Reward customer" in page
    assert manager.email in page
    assert "Console" in page  # the event's source
    assert 'name="token"' in page


def test_it_shows_api_clients_notes_and_internal_events(agent_client, account, reasons):
    client, _ = api_client(name="Checkout")
    adjust_points(
        account=account,
        points=5,
        reason=reasons["REWARD"],
        history_title="Birthday",
        note="Asked nicely",
        visible_to_customer=False,
        actor=Actor.of_client(client, source=LoyaltyEvent.Source.NATIVE_API),
    )

    page = agent_client.get(reverse("account", args=[account.pk])).text

    assert "Checkout" in page
    assert "Birthday" in page
    assert "Note: Asked nicely" in page
    assert "Internal" in page
    assert "Native API" in page


def test_it_loads_more_history_with_a_cursor(agent_client, account, reasons, manager):
    for _ in range(25):
        adjust_points(
            account=account,
            points=1,
            reason=reasons["REWARD"],
            actor=Actor.of_operator(manager),
        )
    url = reverse("account", args=[account.pk])

    first = agent_client.get(url)
    cursor = first.context["history"].next_cursor
    more = agent_client.get(url, {"cursor": cursor}, **HX)
    plain = agent_client.get(url, {"cursor": cursor})

    assert first.text.count('<tr id="event-') == 20
    assert "Load more" in first.text
    assert more.text.count('<tr id="event-') == 5
    assert "<html" not in more.text
    assert "Load more" not in more.text
    assert "<html" in plain.text
    assert "Newest events" in plain.text


def test_it_refuses_a_cursor_it_did_not_give_out(agent_client, account):
    response = agent_client.get(reverse("account", args=[account.pk]), {"cursor": "bogus"})

    assert response.status_code == 400


def test_it_answers_404_for_an_unknown_or_foreign_account(agent_client):
    foreign = AccountFactory(program=Program.objects.create(name="Other", alias="other"))

    assert agent_client.get(reverse("account", args=[uuid.uuid4()])).status_code == 404
    assert agent_client.get(reverse("account", args=[foreign.pk])).status_code == 404


def test_it_redirects_anonymous_visitors_to_login(client, account):
    url = reverse("account", args=[account.pk])

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


def test_it_refuses_post(agent_client, account):
    assert agent_client.post(reverse("account", args=[account.pk])).status_code == 405


def test_it_offers_allow_negative_to_managers_only(agent_client, manager_client, account):
    url = reverse("account", args=[account.pk])

    assert 'name="allow_negative"' not in agent_client.get(url).text
    assert 'name="allow_negative"' in manager_client.get(url).text


def test_it_offers_only_active_reasons_with_their_sign(agent_client, account, reasons):
    reasons["EXPIRE_NOW"].active = False
    reasons["EXPIRE_NOW"].save()

    page = agent_client.get(reverse("account", args=[account.pk])).text

    assert "Reward customer (+)" in page
    assert "Redeem points for a discount (−)" in page
    assert "Expire points" not in page
