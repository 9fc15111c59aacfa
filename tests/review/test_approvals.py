import uuid

import pytest
from django.urls import reverse

from accounts.models import Program
from ledger.exceptions import SelfApproval
from ledger.models import ApprovalRequest, LoyaltyEvent
from ledger.services import Actor, adjust_points, approve_request
from loyalty_admin.models import AuditEntry
from loyalty_admin.roles import set_role
from tests.factories import operator

from .conftest import HX

pytestmark = pytest.mark.django_db


@pytest.fixture
def threshold(funded):
    Program.objects.filter(pk=funded.program_id).update(approval_threshold=100)
    funded.refresh_from_db()
    return 100


def _adjust(client, account, reason, amount, token=None, **headers):
    data = {
        "reason": reason.pk,
        "amount": amount,
        "history_title": "Big goodwill",
        "note": "Complaint 42",
        "visible_to_customer": "on",
        "token": token or str(uuid.uuid4()),
    }
    return client.post(reverse("adjustment-create", args=[account.pk]), data, **headers)


def _approve(client, approval, token=None, **headers):
    data = {"token": token or str(uuid.uuid4())}
    return client.post(reverse("approval-approve", args=[approval.pk]), data, **headers)


def _reject(client, approval, note, **headers):
    data = {f"reject-{approval.pk}-note": note}
    return client.post(reverse("approval-reject", args=[approval.pk]), data, **headers)


def test_it_holds_an_agent_adjustment_above_the_threshold(
    agent_client, agent, funded, threshold, reasons
):
    response = _adjust(agent_client, funded, reasons["REWARD"], 500, **HX)

    funded.refresh_from_db()
    approval = ApprovalRequest.objects.get()
    assert response.status_code == 200
    assert "Sent to a manager for approval: +500 points" in response.text
    assert 'id="approval-requests"' in response.text and 'hx-swap-oob="true"' in response.text
    assert (approval.status, approval.points, approval.requested_by) == ("PENDING", 500, agent)
    assert (approval.history_title, approval.note) == ("Big goodwill", "Complaint 42")
    assert funded.balance == 1000
    assert LoyaltyEvent.objects.filter(account=funded).count() == 1


def test_it_makes_one_request_of_a_double_submit(agent_client, funded, threshold, reasons):
    token = str(uuid.uuid4())

    _adjust(agent_client, funded, reasons["REWARD"], 500, token=token, **HX)
    _adjust(agent_client, funded, reasons["REWARD"], 500, token=token, **HX)

    assert ApprovalRequest.objects.count() == 1


def test_it_applies_an_approved_request_with_both_names(
    agent_client, manager_client, agent, manager, funded, threshold, reasons
):
    _adjust(agent_client, funded, reasons["REWARD"], 500)
    approval = ApprovalRequest.objects.get()

    response = _approve(manager_client, approval, **HX)

    funded.refresh_from_db()
    approval.refresh_from_db()
    event = approval.event
    assert response.status_code == 200
    assert "Approved: +500 points. New balance: 1,500." in response.text
    assert (
        '<a id="nav-approvals" href="/approvals/" hx-swap-oob="true">Approvals</a>' in response.text
    )
    assert (approval.status, approval.decided_by) == ("APPROVED", manager)
    assert (event.actor, event.points, event.source, event.note) == (
        agent,
        500,
        "ADMIN_UI",
        "Complaint 42",
    )
    assert (funded.balance, funded.lifetime_points) == (1500, 1500)
    page = agent_client.get(reverse("account", args=[funded.pk]))
    assert f"Approved by {manager.email}" in page.text
    assert f'id="event-{event.pk}"' in page.text
    entry = AuditEntry.objects.get(action="approval.approved")
    assert (entry.actor, entry.ip_address) == (manager, "127.0.0.1")


def test_it_refuses_approving_twice(agent_client, manager_client, funded, threshold, reasons):
    _adjust(agent_client, funded, reasons["REWARD"], 500)
    approval = ApprovalRequest.objects.get()
    token = str(uuid.uuid4())
    _approve(manager_client, approval, token, **HX)

    retry = _approve(manager_client, approval, token, **HX)
    second_tab = _approve(manager_client, approval, **HX)

    funded.refresh_from_db()
    assert retry.status_code == 200  # a retry of the same form gets the first result
    assert "Approved: +500 points." in retry.text
    # Another form (a second tab) is told who decided, and when.
    assert second_tab.status_code == 422
    assert "This request was already approved by " in second_tab.text
    assert "Approved: +500" not in second_tab.text
    assert funded.balance == 1500
    other = operator("manager")
    manager_client.force_login(other)
    assert _approve(manager_client, approval, **HX).status_code == 422
    assert LoyaltyEvent.objects.filter(account=funded).count() == 2


def test_it_refuses_self_approval_even_by_a_crafted_post(
    manager_client, manager, funded, threshold, reasons
):
    # A manager's own adjustments never need approval; one they asked for as an agent (before
    # a promotion) is still theirs.
    set_role(manager, "agent")
    approval = adjust_points(
        account=funded, points=500, reason=reasons["REWARD"], actor=Actor.of_operator(manager)
    ).approval
    set_role(manager, "manager")
    assert approval.requested_by == manager

    page = manager_client.get(reverse("approvals"))
    approved = _approve(manager_client, approval, **HX)
    rejected = _reject(manager_client, approval, "No", **HX)

    approval.refresh_from_db()
    assert "Your own request: another manager decides on it." in page.text
    assert reverse("approval-approve", args=[approval.pk]) not in page.text
    assert approved.status_code == rejected.status_code == 403
    assert approval.status == "PENDING"
    with pytest.raises(SelfApproval):
        approve_request(request=approval, actor=Actor.of_operator(manager))


def test_it_refuses_an_approval_that_would_overdraw_now(
    agent_client, manager_client, manager, funded, threshold, reasons
):
    _adjust(agent_client, funded, reasons["REDEEM_DISCOUNT"], 600)
    approval = ApprovalRequest.objects.get()
    adjust_points(
        account=funded,
        points=-500,
        reason=reasons["REDEEM_DISCOUNT"],
        actor=Actor.of_operator(manager),
    )

    response = _approve(manager_client, approval, **HX)

    funded.refresh_from_db()
    approval.refresh_from_db()
    assert response.status_code == 422
    assert "The customer has 500 points; removing 600 would leave -100." in response.text
    assert approval.status == "PENDING"
    assert funded.balance == 500


def test_it_rejects_with_a_note_the_agent_sees(
    agent_client, manager_client, manager, funded, threshold, reasons
):
    _adjust(agent_client, funded, reasons["REWARD"], 500)
    approval = ApprovalRequest.objects.get()

    without_note = _reject(manager_client, approval, " ", **HX)
    response = _reject(manager_client, approval, "Too generous", **HX)

    approval.refresh_from_db()
    funded.refresh_from_db()
    assert without_note.status_code == 422
    assert response.status_code == 200
    assert (approval.status, approval.decided_by, approval.decision_note) == (
        "REJECTED",
        manager,
        "Too generous",
    )
    assert funded.balance == 1000
    page = agent_client.get(reverse("account", args=[funded.pk]))
    assert "Rejected" in page.text and "Too generous" in page.text
    assert AuditEntry.objects.filter(action="approval.rejected", actor=manager).count() == 1


def test_it_lists_pending_requests_and_counts_them_in_the_navigation(
    agent_client, manager_client, agent, funded, threshold, reasons
):
    _adjust(agent_client, funded, reasons["REWARD"], 500)
    _adjust(agent_client, funded, reasons["REWARD"], 700)

    queue = manager_client.get(reverse("approvals"))
    account_page = agent_client.get(reverse("account", args=[funded.pk]))

    assert queue.status_code == 200
    assert queue.text.count('class="approval" id="approval-') == 2
    assert '<span class="count">2<' in queue.text
    assert "Waiting for a manager" in account_page.text
    assert '<span class="count">' not in account_page.text  # agents have no queue


def test_it_pages_the_queue_oldest_first(agent_client, manager_client, funded, threshold, reasons):
    for amount in range(101, 131):
        _adjust(agent_client, funded, reasons["REWARD"], amount)

    first = manager_client.get(reverse("approvals"))
    cursor = first.context["queue"].next_cursor
    rest = manager_client.get(reverse("approvals") + f"?cursor={cursor}", **HX)

    assert [a.points for a in first.context["queue"].items] == list(range(101, 126))
    assert rest.text.count('class="approval" id="approval-') == 5
