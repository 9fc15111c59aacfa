import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_it_logs_an_operator_in_with_their_email(client, agent):
    response = client.post(
        reverse("login"), {"username": agent.email.upper(), "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_it_refuses_a_wrong_password_and_keeps_the_email(client, agent):
    response = client.post(reverse("login"), {"username": agent.email, "password": "nope"})

    assert response.status_code == 200
    assert "do not match an operator" in response.text
    assert f'value="{agent.email}"' in response.text


def test_it_refuses_a_user_who_is_not_an_operator(client):
    user = UserFactory()

    response = client.post(reverse("login"), {"username": user.email, "password": PASSWORD})

    assert "not a console operator" in response.text
    assert "_auth_user_id" not in client.session


def test_it_logs_out_by_post_only(agent_client):
    assert agent_client.get(reverse("logout")).status_code == 405

    response = agent_client.post(reverse("logout"))

    assert response.status_code == 302
    assert agent_client.get("/").status_code == 302


def test_it_enforces_csrf_on_login(agent):
    client = Client(enforce_csrf_checks=True)

    response = client.post(reverse("login"), {"username": agent.email, "password": PASSWORD})

    assert response.status_code == 403


def test_it_shows_the_login_page(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert 'type="email"' in response.text
    assert "<script>" not in response.text
