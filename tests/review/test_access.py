"""Every new page and action: anonymous → login, agent → 403, wrong method → 405, CSRF."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Program
from ledger.models import ApprovalRequest, LoyaltyEvent
from ledger.services import Actor, adjust_points
from loyalty_admin.models import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def targets(funded, reasons, agent, manager):
    event = funded.events.get()
    # An agent's adjustment above the program's threshold is held for a manager.
    Program.objects.filter(pk=funded.program_id).update(approval_threshold=1)
    approval = adjust_points(
        account=funded, points=5, reason=reasons["REWARD"], actor=Actor.of_operator(agent)
    ).approval
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


def _valid_post(name, targets) -> dict:
    """Reversing is refused to an agent by the service (an invalid form gets its errors), so
    the agent posts a valid reversal form."""
    if name != "event-reverse":
        return {}
    prefix = f"reverse-{targets['event']}"
    return {f"{prefix}-note": "Wrong customer", f"{prefix}-token": str(uuid.uuid4())}


@pytest.mark.parametrize(("name", "args"), MANAGER_POSTS)
def test_agents_get_403_on_manager_actions(agent_client, targets, name, args):
    response = agent_client.post(_url(name, args, targets), _valid_post(name, targets))
    assert response.status_code == 403
    assert not LoyaltyEvent.objects.filter(type=LoyaltyEvent.Type.REVERSAL).exists()
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
