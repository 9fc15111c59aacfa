"""Native API: merge and transfer, with idempotency keys and the console's refusals."""

import pytest
from django.urls import reverse

from accounts.models import LoyaltyAccount
from ledger.models import ApprovalRequest, LoyaltyEvent
from ledger.services import Actor, adjust_points, create_program

from ..factories import AccountFactory
from .test_native import session_for


@pytest.fixture
def other(program):
    return AccountFactory(program=program)


@pytest.fixture
def rich(account, reasons, manager):
    adjust_points(
        account=account, points=100, reason=reasons["REWARD"], actor=Actor.of_operator(manager)
    )
    return account


def merge_url(account):
    return reverse("api-account-merge", args=[account.pk])


def transfer_url(account):
    return reverse("api-account-transfers", args=[account.pk])


def test_it_merges_once_per_idempotency_key(api, rich, other):
    first = api.post(merge_url(rich), {"into": str(other.pk)}, "json", HTTP_IDEMPOTENCY_KEY="m")
    again = api.post(merge_url(rich), {"into": str(other.pk)}, "json", HTTP_IDEMPOTENCY_KEY="m")

    assert first.status_code == again.status_code == 201
    body = first.json()
    assert again.json() == body
    assert (body["out_event"]["type"], body["in_event"]["type"]) == ("MERGE_OUT", "MERGE_IN")
    assert body["out_event"]["counterpart"] == body["in_event"]["id"]
    assert body["in_event"]["counterpart"] == body["out_event"]["id"]
    assert (body["in_event"]["points"], body["in_event"]["earned_moved"]) == (100, 100)
    shown = api.get(reverse("api-account", args=[rich.pk])).json()
    assert shown["merged_into"] == str(other.pk) and shown["closed_at"]


def test_a_merged_account_refuses_adjustments_with_409(api, rich, other):
    api.post(merge_url(rich), {"into": str(other.pk)}, "json", HTTP_IDEMPOTENCY_KEY="m")

    response = api.post(
        reverse("api-adjustments", args=[rich.pk]),
        {"reason": "REWARD", "points": 5},
        "json",
        HTTP_IDEMPOTENCY_KEY="a",
    )

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "ACCOUNT_CLOSED"


@pytest.mark.parametrize("case", ["itself", "closed", "program"])
def test_it_refuses_a_bad_merge_with_the_consoles_codes(api, rich, other, case):
    if case == "itself":
        into, code, status = rich, "SAME_ACCOUNT", 400
    elif case == "closed":
        third = AccountFactory(program=other.program)
        api.post(merge_url(other), {"into": str(third.pk)}, "json", HTTP_IDEMPOTENCY_KEY="x")
        into, code, status = other, "ACCOUNT_CLOSED", 409
    else:
        into = AccountFactory(program=create_program(name="Elsewhere"))
        code, status = "PROGRAM_MISMATCH", 400

    response = api.post(merge_url(rich), {"into": str(into.pk)}, "json", HTTP_IDEMPOTENCY_KEY="m")

    assert response.status_code == status
    error = response.json()["errors"][0]
    assert error["code"] == code and error["field"] == "into"
    assert LoyaltyAccount.objects.get(pk=rich.pk).merged_into is None


def test_it_transfers_and_refuses_an_overdraft(api, rich, other):
    body = {"to": str(other.pk), "points": 30, "reason": "partner"}
    done = api.post(transfer_url(rich), body, "json", HTTP_IDEMPOTENCY_KEY="t1")
    too_much = api.post(
        transfer_url(rich), {**body, "points": 71}, "json", HTTP_IDEMPOTENCY_KEY="t2"
    )
    no_reason = api.post(
        transfer_url(rich), {**body, "reason": ""}, "json", HTTP_IDEMPOTENCY_KEY="t3"
    )

    assert done.status_code == 201
    assert done.json()["in_event"]["reason_text"] == "partner"
    assert too_much.status_code == 400
    assert too_much.json()["errors"][0]["code"] == "INSUFFICIENT_POINTS"
    assert no_reason.json()["errors"][0]["code"] == "REASON_REQUIRED"
    other.refresh_from_db()
    assert other.balance == 30


def test_transfer_requires_an_idempotency_key(api, rich, other):
    response = api.post(
        transfer_url(rich), {"to": str(other.pk), "points": 1, "reason": "x"}, "json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


def test_an_agents_transfer_above_the_threshold_is_held(program, agent, rich, other):
    program.approval_threshold = 10
    program.save()

    response = session_for(agent).post(
        transfer_url(rich),
        {"to": str(other.pk), "points": 20, "reason": "partner"},
        "json",
        HTTP_IDEMPOTENCY_KEY="h",
    )

    assert response.status_code == 202
    held = response.json()["approval_request"]
    assert (held["kind"], held["target_account_id"], held["points"]) == (
        "TRANSFER",
        str(other.pk),
        20,
    )
    assert ApprovalRequest.objects.get().status == "PENDING"
    assert not LoyaltyEvent.objects.filter(account=other).exists()


def test_the_schema_lists_merge_and_transfer(client):
    schema = client.get(reverse("api-schema"), HTTP_ACCEPT="application/json").json()
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {"native_merge_account", "native_transfer_points"} <= operations


def test_square_sees_transfer_events_as_other(api, rich, other):
    body = {"to": str(other.pk), "points": 30, "reason": "partner"}
    api.post(transfer_url(rich), body, "json", HTTP_IDEMPOTENCY_KEY="t1")

    response = api.post(
        reverse("square-event-search"),
        {"query": {"filter": {"type_filter": {"types": ["OTHER"]}}}},
        "json",
    )

    assert response.status_code == 200
    events = response.json()["events"]
    assert sorted(e["other_event"]["points"] for e in events) == [-30, 30]


def test_square_search_by_an_old_phone_finds_the_surviving_account(api, rich, other):
    api.post(merge_url(rich), {"into": str(other.pk)}, "json", HTTP_IDEMPOTENCY_KEY="m")

    response = api.post(
        reverse("square-account-search"),
        {
            "query": {
                "mappings": [{"type": "PHONE", "value": rich.phone, "phone_number": rich.phone}]
            }
        },
        "json",
    )

    assert response.status_code == 200
    assert [a["id"] for a in response.json()["loyalty_accounts"]] == [str(other.pk)]
