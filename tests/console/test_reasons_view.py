import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Program
from ledger.models import Reason

from .conftest import HX

pytestmark = pytest.mark.django_db

NEW = {
    "new-code": "goodwill",
    "new-label": "Goodwill gesture",
    "new-sign": "1",
    "new-affects_lifetime": "",
    "new-requires_note": "on",
}


def test_it_lists_the_programs_reasons_for_managers(manager_client, reasons):
    response = manager_client.get(reverse("reasons"))

    assert response.status_code == 200
    assert "REDEEM_DISCOUNT" in response.text
    assert 'value="Redeem points for a discount"' in response.text


def test_it_forbids_agents_even_when_they_craft_the_post(agent_client, reasons):
    reward = reasons["REWARD"]

    assert agent_client.get(reverse("reasons")).status_code == 403
    assert agent_client.post(reverse("reasons"), NEW).status_code == 403
    assert (
        agent_client.post(reverse("reason-active", args=[reward.pk]), {"active": "0"}).status_code
        == 403
    )
    assert (
        agent_client.post(
            reverse("reason-change", args=[reward.pk]), {f"reason-{reward.pk}-label": "X"}
        ).status_code
        == 403
    )
    reward.refresh_from_db()
    assert (reward.active, reward.label) == (True, "Reward customer")
    assert not Reason.objects.filter(code="GOODWILL").exists()


def test_it_redirects_anonymous_visitors_to_login(client):
    assert client.get(reverse("reasons"))["Location"] == "/login/?next=/reasons/"


def test_it_adds_a_reason_and_redirects(manager_client, program):
    response = manager_client.post(reverse("reasons"), NEW)

    reason = Reason.objects.get(program=program, code="GOODWILL")
    assert response.status_code == 302
    assert (
        reason.label,
        reason.sign,
        reason.affects_lifetime,
        reason.requires_note,
        reason.active,
    ) == (
        "Goodwill gesture",
        1,
        False,
        True,
        True,
    )


def test_it_adds_a_reason_in_place_with_htmx(manager_client, program):
    response = manager_client.post(reverse("reasons"), NEW, **HX)

    assert response.status_code == 200
    assert response.text.strip().startswith('<div id="reason-admin"')
    assert "Added “Goodwill gesture”." in response.text
    assert "GOODWILL" in response.text


def test_it_refuses_a_duplicate_code_next_to_the_field(manager_client, reasons):
    response = manager_client.post(reverse("reasons"), {**NEW, "new-code": "reward"}, **HX)

    assert response.status_code == 422
    assert 'id="id_new-code_error"' in response.text
    assert "already has a reason with the code REWARD" in response.text
    assert 'value="Goodwill gesture"' in response.text
    assert Reason.objects.filter(code="REWARD").count() == 1


def test_it_refuses_a_code_with_other_characters(manager_client, reasons):
    response = manager_client.post(reverse("reasons"), {**NEW, "new-code": "good will!"})

    assert response.status_code == 422
    assert "capital letters, digits and _ only" in response.text


def test_it_renames_a_reason(manager_client, reasons):
    reward = reasons["REWARD"]
    prefix = f"reason-{reward.pk}"

    response = manager_client.post(
        reverse("reason-change", args=[reward.pk]),
        {f"{prefix}-label": "Thank the customer", f"{prefix}-requires_note": "on"},
        **HX,
    )

    reward.refresh_from_db()
    assert response.status_code == 200
    assert (reward.label, reward.affects_lifetime, reward.requires_note, reward.sign) == (
        "Thank the customer",
        False,
        True,
        1,
    )


def test_it_refuses_an_empty_label(manager_client, reasons):
    reward = reasons["REWARD"]

    response = manager_client.post(
        reverse("reason-change", args=[reward.pk]), {f"reason-{reward.pk}-label": ""}
    )

    reward.refresh_from_db()
    assert response.status_code == 422
    assert f'id="id_reason-{reward.pk}-label_error"' in response.text
    assert reward.label == "Reward customer"


def test_it_deactivates_and_reactivates_a_reason(manager_client, reasons):
    expire = reasons["EXPIRE_NOW"]
    url = reverse("reason-active", args=[expire.pk])

    off = manager_client.post(url, {"active": "0"})
    expire.refresh_from_db()
    assert (off.status_code, expire.active) == (302, False)

    on = manager_client.post(url, {"active": "1"}, **HX)
    expire.refresh_from_db()
    assert (on.status_code, expire.active) == (200, True)
    assert "Reactivated “Expire points”." in on.text


def test_it_answers_404_for_a_reason_of_another_program(manager_client):
    other = Program.objects.create(name="Other", alias="other")
    foreign = other.reasons.create(code="X", label="X", sign=1, affects_lifetime=True)

    response = manager_client.post(reverse("reason-active", args=[foreign.pk]), {"active": "0"})

    foreign.refresh_from_db()
    assert response.status_code == 404
    assert foreign.active is True


def test_it_refuses_wrong_methods(manager_client, reasons):
    reward = reasons["REWARD"]

    assert manager_client.put(reverse("reasons")).status_code == 405
    assert manager_client.get(reverse("reason-change", args=[reward.pk])).status_code == 405
    assert manager_client.get(reverse("reason-active", args=[reward.pk])).status_code == 405


def test_it_enforces_csrf(manager, program):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)

    assert client.post(reverse("reasons"), NEW).status_code == 403
    assert not Reason.objects.filter(code="GOODWILL").exists()
