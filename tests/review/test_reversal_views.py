import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from ledger.models import LoyaltyEvent
from ledger.services import Actor, adjust_points
from loyalty_admin.models import AuditEntry

from ..conftest import postgres_only
from .conftest import HX

UI = LoyaltyEvent.Source.ADMIN_UI


@pytest.fixture
def reward(funded):
    return funded.events.get()


def _reverse(client, event, note="Wrong customer", origin="history", **extra):
    prefix = f"reverse-{event.pk}"
    data = {f"{prefix}-note": note, f"{prefix}-token": extra.pop("token", "")}
    data[f"{prefix}-origin"] = origin
    if extra.pop("allow_negative", False):
        data[f"{prefix}-allow_negative"] = "on"
    if not data[f"{prefix}-token"]:
        import uuid

        data[f"{prefix}-token"] = str(uuid.uuid4())
    return client.post(reverse("event-reverse", args=[event.pk]), data, **extra)


@pytest.mark.django_db
def test_it_reverses_an_event_once_and_links_both(manager_client, manager, funded, reward):
    response = _reverse(manager_client, reward, **HX)

    funded.refresh_from_db()
    reversal = LoyaltyEvent.objects.get(reverses=reward)
    assert response.status_code == 200
    assert (funded.balance, funded.lifetime_points) == (0, 0)
    assert (reversal.points, reversal.actor, reversal.source, reversal.note) == (
        -1000,
        manager,
        "ADMIN_UI",
        "Wrong customer",
    )
    assert f'id="reversal-{reward.pk}" hx-swap-oob="true"' in response.text
    assert "Reversed by" in response.text and f"/events/{reversal.pk}/" in response.text
    page = manager_client.get(reverse("event", args=[reversal.pk]))
    assert "Reverses" in page.text and f"/events/{reward.pk}/" in page.text
    entry = AuditEntry.objects.get(action="event.reversed")
    assert (entry.actor, entry.ip_address, entry.target_id) == (
        manager,
        "127.0.0.1",
        str(reward.pk),
    )


@pytest.mark.django_db
def test_it_refuses_a_second_reversal_next_to_the_note(manager_client, funded, reward):
    _reverse(manager_client, reward, **HX)

    again = _reverse(manager_client, reward, **HX)

    assert again.status_code == 422
    assert "This event has already been reversed." in again.text
    assert LoyaltyEvent.objects.filter(reverses=reward).count() == 1


@pytest.mark.django_db
def test_it_requires_a_note(manager_client, funded, reward):
    response = _reverse(manager_client, reward, note="  ", **HX)

    assert response.status_code == 422
    assert f'id="reverse-{reward.pk}-error"' in response.text
    assert not LoyaltyEvent.objects.filter(reverses=reward).exists()


@pytest.mark.django_db
def test_it_refuses_an_overdraft_unless_allowed(manager_client, manager, funded, reward, reasons):
    adjust_points(
        account=funded,
        points=-800,
        reason=reasons["REDEEM_DISCOUNT"],
        actor=Actor.of_operator(manager, source=UI),
    )

    refused = _reverse(manager_client, reward, **HX)
    allowed = _reverse(manager_client, reward, allow_negative=True, **HX)

    funded.refresh_from_db()
    assert refused.status_code == 422
    assert "would leave -800" in refused.text
    assert allowed.status_code == 200
    assert funded.balance == -800


@pytest.mark.django_db
def test_it_refuses_to_reverse_a_reversal(manager_client, funded, reward):
    _reverse(manager_client, reward, **HX)
    reversal = LoyaltyEvent.objects.get(reverses=reward)

    response = _reverse(manager_client, reversal, **HX)

    assert response.status_code == 422
    assert "A reversal cannot itself be reversed" in response.text


@pytest.mark.django_db
def test_it_updates_the_account_page_in_place(manager_client, funded, reward):
    response = _reverse(manager_client, reward, origin="account", **HX)

    assert 'id="account-summary"' in response.text
    assert "data-balance>0<" in response.text
    assert 'id="history"' in response.text and "Reversed by" in response.text


@pytest.mark.django_db
def test_a_refusal_on_the_account_page_refreshes_the_balance(
    manager_client, manager, funded, reward, reasons
):
    # Points spent since: reversing the reward would overdraw, and the balance shown is stale.
    adjust_points(
        account=funded,
        points=-600,
        reason=reasons["REDEEM_DISCOUNT"],
        actor=Actor.of_operator(manager),
    )
    response = _reverse(manager_client, reward, origin="account", **HX)

    assert response.status_code == 422
    assert "data-balance>400<" in response.text
    # The row keeps its form, open, with the refusal next to the note and the override.
    assert f'id="reversal-{reward.pk}" hx-swap-oob="true"' in response.text
    assert "would leave -600" in response.text
    assert "Allow a negative balance" in response.text
    assert 'id="history"' not in response.text


@pytest.mark.django_db
def test_it_loads_the_reversal_form_when_a_row_opens_it(manager_client, reward):
    url = reverse("reversal-form", args=[reward.pk])

    fragment = manager_client.get(url, {"origin": "account"}, **HX)
    crafted = manager_client.get(url, {"origin": "elsewhere"}, **HX)

    assert "<html" not in fragment.text and "Why reverse it?" in fragment.text
    assert f'name="reverse-{reward.pk}-origin" value="account"' in fragment.text
    assert "autofocus" in fragment.text
    assert f'name="reverse-{reward.pk}-origin" value="event"' in crafted.text
    assert "<html" in manager_client.get(url).text  # without htmx: the event's page


@pytest.mark.django_db
def test_it_redirects_a_plain_post(manager_client, funded, reward):
    response = _reverse(manager_client, reward, origin="account")

    assert response.status_code == 302
    assert response["Location"] == reverse("account", args=[funded.pk])


@pytest.mark.django_db
def test_it_shows_the_reverse_form_to_managers_only(agent_client, manager_client, funded, reward):
    account_page = reverse("account", args=[funded.pk])

    assert "Reverse…" in manager_client.get(account_page).text
    assert "Reverse…" not in agent_client.get(account_page).text
    assert "Reverse…" not in agent_client.get(reverse("event", args=[reward.pk])).text
    assert _reverse(agent_client, reward).status_code == 403


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_it_reverses_once_under_two_concurrent_posts(manager, funded, reward):
    barrier = threading.Barrier(2)
    statuses = []

    def post() -> None:
        client = Client()
        client.force_login(manager)
        barrier.wait()
        try:
            statuses.append(_reverse(client, reward, **HX).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    funded.refresh_from_db()
    assert sorted(statuses) == [200, 422]
    assert LoyaltyEvent.objects.filter(reverses=reward).count() == 1
    assert funded.balance == 0
