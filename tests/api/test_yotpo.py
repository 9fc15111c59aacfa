"""Yotpo dialect with plain HTTP requests (Django's test client)."""

import json
from datetime import timedelta

import pytest
from django.test import Client

from ledger import services
from ledger.models import LoyaltyEvent
from tests.factories import AccountFactory


@pytest.fixture
def customer(program):
    account = AccountFactory(program=program, email="yara@example.com", customer_id="Y-1")
    services.adjust_points(
        account=account, points=100, actor=services.Actor.system(), reason_text="seed"
    )
    account.refresh_from_db()
    return account


@pytest.fixture
def yotpo(writer_key):
    return Client(headers={"x-api-key": writer_key[1]})


def adjust(client, **body):
    return client.post("/api/v2/points/adjust", json.dumps(body), content_type="application/json")


def test_adjust_up_leaves_points_earned_unless_asked(yotpo, customer):
    response = adjust(yotpo, customer_email="YARA@example.com", point_adjustment_amount=20)

    assert response.status_code == 200
    assert response.json()["points_balance"] == 120
    assert response.json()["points_earned"] == 100
    customer.refresh_from_db()
    assert (customer.balance, customer.lifetime_points) == (120, 100)
    event = customer.events.latest("created_at")
    assert (event.source, event.affects_lifetime) == (LoyaltyEvent.Source.YOTPO_API, False)


def test_adjust_up_counts_towards_points_earned_when_asked(yotpo, customer):
    response = adjust(
        yotpo,
        customer_id="Y-1",
        point_adjustment_amount=20,
        apply_adjustment_to_points_earned=True,
        history_title="Birthday",
        visible_to_customer=False,
    )

    assert response.status_code == 200
    customer.refresh_from_db()
    assert (customer.balance, customer.lifetime_points) == (120, 120)
    event = customer.events.latest("created_at")
    assert (event.history_title, event.visible_to_customer) == ("Birthday", False)


def test_adjust_down_both_ways(yotpo, customer):
    adjust(yotpo, customer_id="Y-1", point_adjustment_amount=-30)
    customer.refresh_from_db()
    assert (customer.balance, customer.lifetime_points) == (70, 100)

    adjust(
        yotpo,
        customer_id="Y-1",
        point_adjustment_amount=-30,
        apply_adjustment_to_points_earned=True,
    )
    customer.refresh_from_db()
    assert (customer.balance, customer.lifetime_points) == (40, 70)


def test_not_enough_points_is_a_422_and_nothing_is_written(yotpo, customer):
    response = adjust(yotpo, customer_id="Y-1", point_adjustment_amount=-101)

    assert response.status_code == 422
    assert response.json() == {
        "errors": [
            {
                "code": "INSUFFICIENT_POINTS",
                "message": "The customer has 100 points; removing 101 would leave -1.",
                "field": "point_adjustment_amount",
            }
        ]
    }
    customer.refresh_from_db()
    assert customer.balance == 100
    assert customer.events.count() == 1


def test_an_unknown_customer_is_a_404(yotpo, customer):
    response = adjust(yotpo, customer_email="nobody@example.com", point_adjustment_amount=5)
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NOT_FOUND"


def test_missing_or_unknown_key_is_a_401(customer):
    response = adjust(Client(), customer_id="Y-1", point_adjustment_amount=5)
    assert response.status_code == 401
    response = adjust(
        Client(headers={"x-api-key": "nope.nope"}), customer_id="Y-1", point_adjustment_amount=5
    )
    assert response.status_code == 401
    customer.refresh_from_db()
    assert customer.balance == 100


def test_the_key_may_come_as_a_query_parameter(writer_key, customer):
    response = Client().get("/api/v2/customers", {"customer_id": "Y-1", "api_key": writer_key[1]})
    assert response.status_code == 200


def test_x_guid_must_name_the_program(writer_key, customer, program):
    key = writer_key[1]
    ok = Client(headers={"x-api-key": key, "x-guid": str(program.id)})
    assert ok.get("/api/v2/customers", {"customer_id": "Y-1"}).status_code == 200
    alias = Client(headers={"x-api-key": key, "x-guid": "main"})
    assert alias.get("/api/v2/customers", {"customer_id": "Y-1"}).status_code == 200
    wrong = Client(headers={"x-api-key": key, "x-guid": "someone-else"})
    assert wrong.get("/api/v2/customers", {"customer_id": "Y-1"}).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customer_id": "Y-1"}, "point_adjustment_amount"),
        ({"customer_id": "Y-1", "point_adjustment_amount": 2**31}, "point_adjustment_amount"),
        ({"customer_id": "Y-1", "point_adjustment_amount": "5"}, "point_adjustment_amount"),
        ({"point_adjustment_amount": 5}, "customer_email"),
        (
            {"customer_id": "Y-1", "point_adjustment_amount": 5, "visible_to_customer": "no"},
            "visible_to_customer",
        ),
        (
            {"customer_id": "Y-1", "point_adjustment_amount": 5, "history_title": "x" * 201},
            "history_title",
        ),
        ({"customer_id": "Y-1", "point_adjustment_amount": 5, "reason": "NOPE"}, "reason"),
    ],
)
def test_malformed_requests_are_a_400_naming_the_field(yotpo, customer, body, field):
    response = adjust(yotpo, **body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert customer.events.count() == 1


def test_malformed_json_is_a_400(yotpo, customer):
    response = yotpo.post("/api/v2/points/adjust", "{", content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()["errors"][0]) == {"code", "message"}


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"point_adjustment_amount": 5, "reason": "REDEEM_DISCOUNT"}, "REASON_SIGN_MISMATCH", None),
        ({"point_adjustment_amount": 5, "reason": "RETIRED"}, "REASON_INACTIVE", "reason"),
        ({"point_adjustment_amount": 5, "reason": "NEEDS_NOTE"}, "NOTE_REQUIRED", "reason"),
        ({"point_adjustment_amount": -101}, "INSUFFICIENT_POINTS", "point_adjustment_amount"),
    ],
)
def test_an_adjustment_the_ledger_refuses_is_a_422_naming_the_problem(
    yotpo, customer, program, manager, body, code, field
):
    manage = services.Actor.of_operator(manager)
    added = {
        code: services.add_reason(
            program=program,
            code=code,
            label=code.title(),
            sign=1,
            affects_lifetime=True,
            requires_note=code == "NEEDS_NOTE",
            actor=manage,
        )
        for code in ("RETIRED", "NEEDS_NOTE")
    }
    services.set_reason_active(reason=added["RETIRED"], active=False, actor=manage)

    response = adjust(yotpo, customer_id="Y-1", **body)

    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["code"] == code and error["message"]
    assert error.get("field", "point_adjustment_amount") == (field or "point_adjustment_amount")
    assert customer.events.count() == 1


def test_it_shows_a_customer_with_history(yotpo, customer):
    adjust(yotpo, customer_id="Y-1", point_adjustment_amount=-10, history_title="Coffee")

    response = yotpo.get(
        "/api/v2/customers", {"phone_number": customer.phone, "with_history": "true"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["email"] == "yara@example.com"
    assert (body["points_balance"], body["points_earned"]) == (90, 100)
    assert body["points_expire_at"] is None
    assert [(h["action"], h["points"], h["visible"]) for h in body["history"]] == [
        ("Coffee", -10, True),
        ("seed", 100, True),
    ]
    assert "history" not in yotpo.get("/api/v2/customers", {"customer_id": "Y-1"}).json()


def test_customer_lookup_errors(yotpo, customer):
    assert yotpo.get("/api/v2/customers").status_code == 400
    assert yotpo.get("/api/v2/customers", {"customer_email": "x@example.com"}).status_code == 404
    response = yotpo.get("/api/v2/customers", {"phone_number": "12"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "phone_number"


def test_it_shows_when_the_soonest_points_expire(yotpo, customer, program):
    program.expiration_policy = "P90D"
    program.save()
    adjust(yotpo, customer_id="Y-1", point_adjustment_amount=40)
    earned = customer.events.order_by("-created_at").first()

    body = yotpo.get("/api/v2/customers", {"customer_id": "Y-1"}).json()

    # The seed's 100 points were earned without a policy and never expire.
    expected = (earned.created_at + timedelta(days=90)).isoformat().replace("+00:00", "Z")
    assert body["points_expire_at"] == expected
