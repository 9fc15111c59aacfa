"""Yotpo redemptions over HTTP, as a storefront sends them: the options are the program's
reward tiers, and a redemption issues a reward from one through the ledger, once."""

import json
import threading
import uuid

import pytest
import requests
from django.test import Client

from ledger import services
from ledger.models import LoyaltyEvent, Reward
from ledger.selectors import ledger_discrepancies
from tests.conftest import postgres_only
from tests.factories import AccountFactory


def fund(account, points: int) -> None:
    services.adjust_points(
        account=account, points=points, actor=services.Actor.system(), reason_text="seed"
    )
    account.refresh_from_db()


@pytest.fixture
def tiers(program, manager):
    manage = services.Actor.of_operator(manager)
    five = services.add_reward_tier(program=program, name="$5 off", points=500, actor=manage)
    ten = services.add_reward_tier(program=program, name="$10 off", points=1000, actor=manage)
    old = services.add_reward_tier(program=program, name="Old mug", points=100, actor=manage)
    services.retire_reward_tier(tier=old, actor=manage)
    return {"five": five, "ten": ten, "old": old}


@pytest.fixture
def customer(program):
    account = AccountFactory(
        program=program, email="yara@example.com", customer_id="Y-1", pos_account_id="POS-1"
    )
    fund(account, 700)
    return account


@pytest.fixture
def yotpo(writer_key, program):
    return Client(headers={"x-api-key": writer_key[1], "x-guid": str(program.id)})


def redeem(client, headers: dict | None = None, **body):
    return client.post(
        "/api/v2/redemptions", json.dumps(body), content_type="application/json", headers=headers
    )


# --- Options ---------------------------------------------------------------------------------


def test_the_options_are_the_programs_reward_tiers_still_offered(yotpo, tiers):
    response = yotpo.get("/api/v2/redemption_options")

    assert response.status_code == 200
    assert response.json() == [
        {
            "id": str(tiers["five"].id),
            "name": "$5 off",
            "description": "$5 off for 500 points",
            "icon": "",
            "cost_text": "500 points",
            "points_cost": 500,
        },
        {
            "id": str(tiers["ten"].id),
            "name": "$10 off",
            "description": "$10 off for 1,000 points",
            "icon": "",
            "cost_text": "1,000 points",
            "points_cost": 1000,
        },
    ]


@pytest.mark.parametrize(
    "identity",
    [
        {"customer_email": "YARA@example.com"},
        {"customer_external_id": "Y-1"},
        {"pos_account_id": "POS-1"},
    ],
)
def test_for_one_customer_only_the_options_they_can_afford(yotpo, tiers, customer, identity):
    response = yotpo.get("/api/v2/redemption_options", identity)

    assert [option["name"] for option in response.json()] == ["$5 off"]


def test_options_for_an_unknown_customer_are_a_404(yotpo, tiers):
    response = yotpo.get("/api/v2/redemption_options", {"customer_email": "no@example.com"})
    assert response.status_code == 404


# --- Redeeming -------------------------------------------------------------------------------


def test_a_redemption_takes_the_points_and_gives_a_coupon_code(yotpo, tiers, customer):
    response = redeem(
        yotpo, customer_email="yara@example.com", redemption_option_id=str(tiers["five"].id)
    )

    assert response.status_code == 200
    body = response.json()
    reward = Reward.objects.get()
    assert body == {
        "id": str(reward.id),
        "coupon_code": reward.id.hex.upper(),
        "redemption_option_id": str(tiers["five"].id),
        "reward_text": "$5 off",
        "points_deducted": 500,
        "status": "ISSUED",
        "created_at": body["created_at"],
        "customer_email": "yara@example.com",
        "customer_external_id": "Y-1",
        "points_balance": 200,
    }
    assert uuid.UUID(body["coupon_code"]) == reward.id
    customer.refresh_from_db()
    assert customer.balance == 200
    event = customer.events.latest("created_at")
    assert (event.type, event.points, event.source, event.reward_id) == (
        LoyaltyEvent.Type.CREATE_REWARD,
        -500,
        LoyaltyEvent.Source.YOTPO_API,
        reward.id,
    )
    record = yotpo.get("/api/v2/customers", {"customer_id": "Y-1"}).json()
    assert (record["perks_redeemed"], record["points_balance"]) == (1, 200)


def test_the_customer_may_be_named_by_their_external_id(yotpo, tiers, customer):
    response = redeem(yotpo, customer_external_id="Y-1", redemption_option_id=str(tiers["five"].id))
    assert response.status_code == 200
    assert response.json()["points_balance"] == 200


def test_a_short_balance_is_a_422_and_nothing_is_written(yotpo, tiers, customer):
    response = redeem(yotpo, customer_external_id="Y-1", redemption_option_id=str(tiers["ten"].id))

    assert response.status_code == 422
    assert response.json() == {
        "errors": [
            {
                "code": "INSUFFICIENT_POINTS",
                "message": "The customer has 700 points; “$10 off” needs 1,000.",
                "field": "redemption_option_id",
            }
        ]
    }
    customer.refresh_from_db()
    assert customer.balance == 700
    assert not Reward.objects.exists()
    assert customer.events.count() == 1


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"customer_external_id": "Y-1", "redemption_option_id": "nope"}, 404, "NOT_FOUND", None),
        ({"customer_external_id": "Y-1", "redemption_option_id": 42}, 404, "NOT_FOUND", None),
        ({"customer_external_id": "Y-1"}, 400, "REQUIRED", "redemption_option_id"),
        ({"redemption_option_id": "x"}, 400, "REQUIRED", "customer_email"),
        ({"customer_email": "no@example.com", "redemption_option_id": "x"}, 404, "NOT_FOUND", None),
    ],
)
def test_bad_requests_name_the_problem(yotpo, tiers, customer, body, status, code, field):
    response = redeem(yotpo, **body)

    assert response.status_code == status
    error = response.json()["errors"][0]
    assert error["code"] == code and error["message"]
    assert error.get("field") == field
    assert not Reward.objects.exists()


def test_a_retired_option_is_refused(yotpo, tiers, customer):
    response = redeem(yotpo, customer_external_id="Y-1", redemption_option_id=str(tiers["old"].id))

    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "code": "REWARD_TIER_RETIRED",
        "message": "The reward tier “Old mug” is retired.",
        "field": "redemption_option_id",
    }


def test_an_option_of_another_program_is_not_found(yotpo, customer, manager):
    other = services.create_program(name="Other store", alias="other")
    theirs = services.add_reward_tier(
        program=other, name="Theirs", points=1, actor=services.Actor.of_operator(manager)
    )
    response = redeem(yotpo, customer_external_id="Y-1", redemption_option_id=str(theirs.id))
    assert response.status_code == 404


def test_a_read_only_key_may_list_but_not_redeem(reader_key, tiers, customer):
    client = Client(headers={"x-api-key": reader_key[1]})
    assert client.get("/api/v2/redemption_options").status_code == 200
    response = redeem(
        client, customer_external_id="Y-1", redemption_option_id=str(tiers["five"].id)
    )
    assert response.status_code == 403
    assert not Reward.objects.exists()


# --- Over a live server: retries and races ---------------------------------------------------


@pytest.fixture
def storefront(live_server, writer_key, program):
    """What a storefront's HTTP client sends: Yotpo's headers, JSON, to a running server."""

    def post(body: dict, **headers: str) -> requests.Response:
        return requests.post(
            f"{live_server.url}/api/v2/redemptions",
            json=body,
            headers={"x-api-key": writer_key[1], "x-guid": str(program.id), **headers},
            timeout=30,
        )

    return post


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("short_lived_connections")
def test_the_same_redemption_sent_ten_times_deducts_once(storefront, tiers, customer):
    body = {"customer_email": "yara@example.com", "redemption_option_id": str(tiers["five"].id)}

    answers = [storefront(body, **{"Idempotency-Key": "checkout-1"}) for _ in range(10)]

    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["coupon_code"] for a in answers}) == 1
    customer.refresh_from_db()
    assert customer.balance == 200
    assert Reward.objects.count() == 1
    assert customer.events.filter(type=LoyaltyEvent.Type.CREATE_REWARD).count() == 1
    # The same key for another option is refused, not a second redemption.
    other = storefront(
        {**body, "redemption_option_id": str(tiers["ten"].id)}, **{"Idempotency-Key": "checkout-1"}
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"


@postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("short_lived_connections")
def test_concurrent_redemptions_against_a_balance_for_one_let_exactly_one_through(
    storefront, tiers, customer
):
    body = {"customer_external_id": "Y-1", "redemption_option_id": str(tiers["five"].id)}
    start = threading.Barrier(8)
    statuses: list[int] = []

    def attempt(n: int) -> None:
        start.wait()
        statuses.append(storefront(body, **{"Idempotency-Key": f"till-{n}"}).status_code)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] + [422] * 7
    customer.refresh_from_db()
    assert customer.balance == 200
    assert Reward.objects.count() == 1
    assert ledger_discrepancies() == []
