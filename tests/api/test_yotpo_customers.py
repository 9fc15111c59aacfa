"""Yotpo's customer record, its look-ups, its history and Yotpo's credentials, over plain
HTTP (Django's test client) as a storefront sends them."""

import re

import pytest
from django.test import Client

from ledger import services
from ledger.models import ApprovalRequest
from tests.factories import AccountFactory

DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
DATE = re.compile(r"^\d{4}-\d\d-\d\d$")

# Every field of Yotpo's customer record and its JSON type; "datetime?" may be null.
FIELDS = {
    "email": str,
    "customer_id": str,
    "phone_number": str,
    "pos_account_id": str,
    "third_party_id": str,
    "thirty_party_id": str,
    "first_name": str,
    "last_name": str,
    "points_balance": int,
    "points_earned": int,
    "points_expire_at": "datetime?",
    "perks_redeemed": int,
    "total_purchases": int,
    "last_purchase_at": "datetime?",
    "last_seen_at": "datetime",
    "opt_in": bool,
    "opted_in_at": "datetime",
    "total_spend_cents": int,
    "has_store_account": bool,
    "credit_balance": str,
    "credit_balance_in_customer_currency": str,
    "vip_tier_name": type(None),
    "vip_tier_actions_completed": dict,
    "vip_tier_upgrade_requirements": dict,
}


def assert_typed(value, kind) -> None:
    if kind in ("datetime", "datetime?"):
        if kind == "datetime?" and value is None:
            return
        assert isinstance(value, str) and DATETIME.match(value), value
    else:
        assert type(value) is kind, (value, kind)


@pytest.fixture
def customer(program):
    account = AccountFactory(
        program=program,
        email="yara@example.com",
        customer_id="Y-1",
        phone="+14155552671",
        pos_account_id="POS-77",
    )
    services.adjust_points(
        account=account, points=100, actor=services.Actor.system(), reason_text="seed"
    )
    account.refresh_from_db()
    return account


@pytest.fixture
def yotpo(writer_key, program):
    return Client(headers={"x-api-key": writer_key[1], "x-guid": str(program.id)})


def test_every_documented_field_is_present_with_yotpos_type(yotpo, customer):
    body = yotpo.get("/api/v2/customers", {"customer_id": "Y-1"}).json()

    assert set(body) == set(FIELDS)
    for name, kind in FIELDS.items():
        assert_typed(body[name], kind)
    assert body["pos_account_id"] == "POS-77"
    assert body["third_party_id"] == body["thirty_party_id"] == "Y-1"
    assert (body["points_balance"], body["points_earned"]) == (100, 100)
    assert (body["opt_in"], body["total_spend_cents"], body["credit_balance"]) == (True, 0, "0.00")
    assert body["vip_tier_name"] is None
    assert body["vip_tier_actions_completed"] == body["vip_tier_upgrade_requirements"] == {}


def test_purchases_are_the_points_accumulated_less_those_reversed(yotpo, customer, manager):
    actor = services.Actor.system()
    first = services.accumulate_points(account=customer, points=10, actor=actor, order_id="O-1")
    second = services.accumulate_points(account=customer, points=20, actor=actor, order_id="O-2")
    refund = services.accumulate_points(account=customer, points=30, actor=actor, order_id="O-3")
    services.reverse_event(event=refund, note="refunded", actor=services.Actor.of_operator(manager))

    body = yotpo.get("/api/v2/customers", {"customer_id": "Y-1"}).json()

    assert body["total_purchases"] == 2
    assert body["last_purchase_at"] > first.created_at.isoformat()[:19]
    assert body["last_purchase_at"].startswith(second.created_at.isoformat()[:19])


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("customer_email", "Yara@Example.com"),
        ("customer_id", "Y-1"),
        ("phone_number", "+14155552671"),
        ("pos_account_id", "POS-77"),
    ],
)
def test_it_finds_the_customer_by_each_identity(yotpo, customer, program, param, value):
    AccountFactory(program=program)  # someone else, never matched
    response = yotpo.get("/api/v2/customers", {param: value})

    assert response.status_code == 200
    assert response.json()["customer_id"] == "Y-1"


def test_an_unknown_pos_account_id_is_a_404(yotpo, customer):
    response = yotpo.get("/api/v2/customers", {"pos_account_id": "POS-00"})
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NOT_FOUND"


def test_history_says_approved_pending_and_reversed(
    yotpo, customer, program, agent, manager, reasons
):
    program.approval_threshold = 50
    program.save()
    system = services.Actor.system()
    reversed_one = services.adjust_points(
        account=customer, points=-30, actor=system, reason_text="Coffee"
    ).event
    services.reverse_event(
        event=reversed_one, note="mistake", actor=services.Actor.of_operator(manager)
    )
    held = services.adjust_points(
        account=customer,
        points=80,
        reason=reasons["REWARD"],
        history_title="Birthday",
        actor=services.Actor.of_operator(agent),
    )
    assert held.approval.status == ApprovalRequest.Status.PENDING

    body = yotpo.get("/api/v2/customers", {"customer_id": "Y-1", "with_history": "true"}).json()

    items = body["history_items"]
    assert [(i["action"], i["points"], i["status"]) for i in items] == [
        ("Birthday", 80, "Pending"),
        ("Reversal: Coffee", 30, "Approved"),
        ("Coffee", -30, "Reversed"),
        ("seed", 100, "Approved"),
    ]
    for item in items:
        assert set(item) == {"action", "created_at", "date", "points", "status", "visible"}
        assert DATETIME.match(item["created_at"]) and DATE.match(item["date"])
        assert item["date"] == item["created_at"][:10]
    assert body["history"] == items
    # A pending request has not changed the balance.
    assert body["points_balance"] == 100


def test_a_rejected_request_is_not_in_the_history(yotpo, customer, program, agent, manager):
    program.approval_threshold = 50
    program.save()
    held = services.adjust_points(
        account=customer,
        points=80,
        reason_text="",
        reason=program.reasons.get(code="REWARD"),
        actor=services.Actor.of_operator(agent),
    )
    services.reject_request(
        request=held.approval, actor=services.Actor.of_operator(manager), note="no"
    )

    body = yotpo.get("/api/v2/customers", {"customer_id": "Y-1", "with_history": "true"}).json()

    assert [i["status"] for i in body["history_items"]] == ["Approved"]


def test_a_customer_without_history_asked_for_gets_none(yotpo, customer):
    body = yotpo.get("/api/v2/customers", {"customer_id": "Y-1"}).json()
    assert "history_items" not in body and "history" not in body


# --- Credentials, as Yotpo sends them ----------------------------------------------------------


def test_the_guid_and_key_may_come_as_query_parameters(writer_key, customer, program):
    response = Client().get(
        "/api/v2/customers",
        {"customer_id": "Y-1", "api_key": writer_key[1], "guid": str(program.id)},
    )
    assert response.status_code == 200


@pytest.mark.parametrize("how", ["header", "query"])
def test_a_wrong_guid_is_refused_like_a_wrong_key(writer_key, customer, program, how):
    def get(key: str, guid: str):
        if how == "header":
            client = Client(headers={"x-api-key": key, "x-guid": guid})
            return client.get("/api/v2/customers", {"customer_id": "Y-1"})
        return Client().get(
            "/api/v2/customers", {"customer_id": "Y-1", "api_key": key, "guid": guid}
        )

    wrong_guid = get(writer_key[1], "not-our-guid")
    wrong_key = get("nope.nope", str(program.id))

    assert wrong_guid.status_code == wrong_key.status_code == 401
    assert wrong_guid.json() == wrong_key.json()
    assert wrong_guid.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert wrong_guid["WWW-Authenticate"] == wrong_key["WWW-Authenticate"]


def test_a_wrong_guid_writes_nothing(writer_key, customer):
    client = Client(headers={"x-api-key": writer_key[1], "x-guid": "not-our-guid"})
    response = client.post(
        "/api/v2/points/adjust",
        {"customer_id": "Y-1", "point_adjustment_amount": 5},
        content_type="application/json",
    )
    assert response.status_code == 401
    customer.refresh_from_db()
    assert customer.balance == 100


def test_the_guid_scopes_the_customers(writer_key, customer):
    other = services.create_program(name="Other store", alias="other")
    AccountFactory(program=other, customer_id="Y-1", email="elsewhere@example.com")

    client = Client(headers={"x-api-key": writer_key[1], "x-guid": "other"})
    body = client.get("/api/v2/customers", {"customer_id": "Y-1"}).json()

    assert body["email"] == "elsewhere@example.com"
    assert body["points_balance"] == 0


def test_the_schema_documents_every_yotpo_endpoint_and_field(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    paths = schema["paths"]
    for path in ("/api/v2/points/adjust", "/api/v2/customers", "/api/v2/redemption_options"):
        assert path in paths
    assert "/api/v2/redemptions" in paths
    lookups = {p["name"] for p in paths["/api/v2/customers"]["get"]["parameters"]}
    assert {"customer_email", "customer_id", "phone_number", "pos_account_id"} <= lookups
    assert set(paths["/api/v2/points/adjust"]["post"]["responses"]) >= {"200", "422", "423"}
    record = schema["components"]["schemas"]["CustomerWithHistory"]["properties"]
    assert set(FIELDS) | {"history_items", "history"} == set(record)
    statuses = schema["components"]["schemas"]["HistoryItemStatusEnum"]["enum"]
    assert statuses == ["Approved", "Pending", "Reversed"]
