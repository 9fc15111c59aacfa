import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from loyalty_admin.models import ApiClient, AuditEntry
from loyalty_admin.roles import is_manager

from .conftest import HX

pytestmark = pytest.mark.django_db


def _role(client, user, role, **headers):
    data = {f"operator-{user.pk}-role": role}
    return client.post(reverse("operator-role", args=[user.pk]), data, **headers)


def _active(client, user, active: bool, **headers):
    data = {"active": "1" if active else "0"}
    return client.post(reverse("operator-active", args=[user.pk]), data, **headers)


def test_it_lists_operators(manager_client, manager, agent):
    response = manager_client.get(reverse("people"))

    assert response.status_code == 200
    assert agent.email in response.text and manager.email in response.text
    assert reverse("operator-role", args=[manager.pk]) not in response.text  # not for oneself


def test_it_invites_an_operator_and_shows_the_password_once(manager_client, manager):
    response = manager_client.post(
        reverse("people"),
        {
            "email": "New.Agent@Example.com",
            "first_name": "Nia",
            "last_name": "Ode",
            "role": "agent",
        },
    )

    user = get_user_model().objects.get(username="new.agent@example.com")
    password = response.context["invited"][1]
    assert response.status_code == 200
    assert f"<code data-secret>{password}</code>" in response.text
    assert user.check_password(password)
    assert not is_manager(user)
    assert password not in manager_client.get(reverse("people")).text
    logged_in = Client().post(
        reverse("login"), {"username": "new.agent@example.com", "password": password}
    )
    assert logged_in.status_code == 302
    entry = AuditEntry.objects.get(action="operator.invited")
    assert (entry.actor, entry.ip_address) == (manager, "127.0.0.1")


def test_it_refuses_to_invite_an_existing_operator(manager_client, agent):
    response = manager_client.post(
        reverse("people"), {"email": agent.email, "role": "manager"}, **HX
    )

    assert response.status_code == 422
    assert "is already an operator" in response.text
    assert not is_manager(agent)


def test_it_changes_a_role(manager_client, manager, agent):
    response = _role(manager_client, agent, "manager", **HX)

    agent.refresh_from_db()
    assert response.status_code == 200
    assert is_manager(agent)
    entry = AuditEntry.objects.get(action="operator.role_changed")
    assert entry.details == {
        "before": "agent",
        "after": "manager",
        "request_id": response["X-Request-ID"],
    }


def test_it_refuses_self_demotion_and_self_deactivation(manager_client, manager):
    demoted = _role(manager_client, manager, "agent", **HX)
    deactivated = _active(manager_client, manager, False, **HX)

    manager.refresh_from_db()
    assert demoted.status_code == deactivated.status_code == 422
    assert "You cannot change your own role" in demoted.text
    assert "You cannot deactivate yourself" in deactivated.text
    assert is_manager(manager) and manager.is_active


def test_deactivation_ends_an_open_session(manager_client, agent_client, agent):
    assert agent_client.get(reverse("search")).status_code == 200

    _active(manager_client, agent, False)

    agent.refresh_from_db()
    response = agent_client.get(reverse("search"))
    assert agent.is_active is False
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert AuditEntry.objects.filter(action="operator.deactivated").count() == 1


def test_it_creates_an_api_key_shown_once_and_stores_a_hash(manager_client, manager):
    response = manager_client.post(
        reverse("api-clients"),
        {"name": "Square POS", "scopes": ["read"], "rate_limit": "60"},
    )

    client, key = response.context["created"]
    client.refresh_from_db()
    assert response.status_code == 200
    assert f"<code data-secret>{key}</code>" in response.text
    assert (client.name, client.scopes, client.rate_limit) == ("Square POS", "read", 60)
    assert key not in client.hashed_key and key not in client.pk
    assert ApiClient.objects.is_valid(key)
    assert key not in manager_client.get(reverse("api-clients")).text
    assert AuditEntry.objects.get(action="api_client.created").actor == manager


def test_it_revokes_an_api_key(manager_client):
    client, key = ApiClient.objects.create_key(name="Old shop", scopes="read", rate_limit=10)

    response = manager_client.post(reverse("api-client-revoke", args=[client.prefix]), **HX)

    client.refresh_from_db()
    assert response.status_code == 200
    assert client.revoked is True
    assert not ApiClient.objects.is_valid(key)
    assert AuditEntry.objects.get(action="api_client.revoked").target_id == client.pk
