"""Every new page and action: anonymous → login, agent → 403, wrong method → 405, CSRF."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from ledger.models import ApprovalRequest
from ledger.services import request_adjustment
from loyalty_admin.models import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def targets(funded, reasons, agent, manager):
    event = funded.events.get()
    approval = request_adjustment(
        account=funded, points=5, reason=reasons["REWARD"], requested_by=agent
    )
    client, _ = ApiClient.objects.create_key(name="shop", scopes="read", rate_limit=10)
    return {
        "event": event.pk,
        "approval": approval.pk,
        "operator": agent.pk,
        "client": client.prefix,
    }


MANAGER_GETS = [
    ("history", []),
    ("history-export", []),
    ("approvals", []),
    ("audit", []),
    ("people", []),
    ("api-clients", []),
]
MANAGER_POSTS = [
    ("event-reverse", ["event"]),
    ("approval-approve", ["approval"]),
    ("approval-reject", ["approval"]),
    ("operator-role", ["operator"]),
    ("operator-active", ["operator"]),
    ("api-client-revoke", ["client"]),
    ("people", []),
    ("api-clients", []),
]


def _url(name, args, targets):
    return reverse(name, args=[targets[a] for a in args])


@pytest.mark.parametrize(("name", "args"), MANAGER_GETS + MANAGER_POSTS)
def test_anonymous_is_sent_to_login(targets, name, args):
    client = Client()
    url = _url(name, args, targets)
    get = client.get(url)
    post = client.post(url)

    for response in (get, post):
        assert response.status_code in (302, 405)
    assert reverse("login") in (get["Location"] if get.status_code == 302 else post["Location"])
    htmx = client.get(url, HTTP_HX_REQUEST="true")
    assert htmx.status_code in (200, 405)  # HX-Redirect to the login page, or wrong method


@pytest.mark.parametrize(("name", "args"), MANAGER_GETS)
def test_agents_get_403_on_manager_pages(agent_client, targets, name, args):
    assert agent_client.get(_url(name, args, targets)).status_code == 403
    assert agent_client.get(_url(name, args, targets), HTTP_HX_REQUEST="true").status_code == 403


@pytest.mark.parametrize(("name", "args"), MANAGER_POSTS)
def test_agents_get_403_on_manager_actions(agent_client, targets, name, args):
    assert agent_client.post(_url(name, args, targets)).status_code == 403
    assert ApprovalRequest.objects.get().status == "PENDING"


@pytest.mark.parametrize(
    ("name", "args"), [g for g in MANAGER_GETS if g[0] not in ("people", "api-clients")]
)
def test_pages_refuse_post(manager_client, targets, name, args):
    assert manager_client.post(_url(name, args, targets)).status_code == 405


@pytest.mark.parametrize(
    ("name", "args"), [p for p in MANAGER_POSTS if p[0] not in ("people", "api-clients")]
)
def test_actions_refuse_get(manager_client, targets, name, args):
    assert manager_client.get(_url(name, args, targets)).status_code == 405


@pytest.mark.parametrize(("name", "args"), MANAGER_POSTS)
def test_actions_enforce_csrf(manager, targets, name, args):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)

    assert client.post(_url(name, args, targets)).status_code == 403
    assert ApprovalRequest.objects.get().status == "PENDING"


def test_event_page_is_for_operators_of_the_program(agent_client, targets):
    assert agent_client.get(reverse("event", args=[targets["event"]])).status_code == 200
    assert agent_client.get(reverse("event", args=[uuid.uuid4()])).status_code == 404
    assert Client().get(reverse("event", args=[targets["event"]])).status_code == 302
