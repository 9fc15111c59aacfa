"""The official `squareup` SDK runs a point-of-sale's reward flow against a live server:
tiers on the program, create → search → redeem, delete, replays, and a race for one balance."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from square import Square
from square.core.api_error import ApiError

from ledger import services
from ledger.models import LoyaltyEvent, Reward
from ledger.selectors import ledger_discrepancies
from tests.conftest import postgres_only
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db(transaction=True)
NO_RETRY = {"max_retries": 0}
Type = LoyaltyEvent.Type


@pytest.fixture
def tiers(program, manager):
    actor = services.Actor.of_operator(manager)
    return {
        "coffee": services.add_reward_tier(
            program=program, name="Free coffee", points=300, actor=actor
        ),
        "cake": services.add_reward_tier(program=program, name="Cake", points=500, actor=actor),
    }


@pytest.fixture
def customer(program, reasons, manager):
    account = AccountFactory(program=program)
    services.adjust_points(
        account=account,
        points=1000,
        reason=reasons["REWARD"],
        actor=services.Actor.of_operator(manager),
    )
    return account


def balance(account) -> int:
    account.refresh_from_db()
    return account.balance


def test_the_program_lists_its_tiers(square: Square, tiers, manager):
    services.retire_reward_tier(tier=tiers["cake"], actor=services.Actor.of_operator(manager))

    got = square.loyalty.programs.get(program_id="main").program.reward_tiers

    assert [(t.id, t.name, t.points) for t in got] == [
        (str(tiers["coffee"].pk), "Free coffee", 300)
    ]
    assert got[0].created_at.endswith("Z")


def test_create_search_redeem_then_delete_is_refused(square: Square, tiers, customer):
    tier_id = square.loyalty.programs.get(program_id="main").program.reward_tiers[0].id

    created = square.loyalty.rewards.create(
        reward={
            "loyalty_account_id": str(customer.pk),
            "reward_tier_id": tier_id,
            "order_id": "ORDER-7",
        },
        idempotency_key="create-1",
    ).reward
    assert (created.status, created.points, created.order_id) == ("ISSUED", 300, "ORDER-7")
    assert balance(customer) == 700
    assert customer.events.filter(type=Type.CREATE_REWARD, reward_id=created.id).count() == 1

    found = square.loyalty.rewards.search(
        query={"loyalty_account_id": str(customer.pk), "status": "ISSUED"}
    ).rewards
    assert [r.id for r in found] == [created.id]
    assert square.loyalty.rewards.get(reward_id=created.id).reward.reward_tier_id == tier_id

    redeemed = square.loyalty.rewards.redeem(
        reward_id=created.id, idempotency_key="redeem-1", location_id="L1"
    ).event
    assert (redeemed.type, redeemed.redeem_reward.reward_id) == ("REDEEM_REWARD", created.id)
    assert redeemed.redeem_reward.order_id == "ORDER-7"
    got = square.loyalty.rewards.get(reward_id=created.id).reward
    assert got.status == "REDEEMED" and got.redeemed_at

    with pytest.raises(ApiError) as refused:
        square.loyalty.rewards.delete(reward_id=created.id, request_options=NO_RETRY)
    assert refused.value.status_code == 400
    assert refused.value.body["errors"][0]["code"] == "BAD_REQUEST"
    assert "redeemed already" in refused.value.body["errors"][0]["detail"]
    assert balance(customer) == 700
    assert not square.loyalty.rewards.search(
        query={"loyalty_account_id": str(customer.pk), "status": "ISSUED"}
    ).rewards


def test_delete_returns_the_points(square: Square, tiers, customer):
    created = square.loyalty.rewards.create(
        reward={"loyalty_account_id": str(customer.pk), "reward_tier_id": str(tiers["cake"].pk)},
        idempotency_key="create-1",
    ).reward
    assert balance(customer) == 500

    square.loyalty.rewards.delete(reward_id=created.id)

    assert balance(customer) == 1000
    assert square.loyalty.rewards.get(reward_id=created.id).reward.status == "DELETED"
    events = square.loyalty.search_events(
        query={"filter": {"type_filter": {"types": ["CREATE_REWARD", "DELETE_REWARD"]}}}
    ).events
    assert [(e.type, (e.create_reward or e.delete_reward).points) for e in events] == [
        ("DELETE_REWARD", 500),
        ("CREATE_REWARD", -500),
    ]
    assert ledger_discrepancies() == []


def test_replays_return_the_same_reward_and_write_nothing(square: Square, tiers, customer):
    reward = {"loyalty_account_id": str(customer.pk), "reward_tier_id": str(tiers["coffee"].pk)}
    first = square.loyalty.rewards.create(reward=reward, idempotency_key="create-1").reward
    again = square.loyalty.rewards.create(reward=reward, idempotency_key="create-1").reward
    assert again.id == first.id and again.status == "ISSUED"

    redeemed = square.loyalty.rewards.redeem(
        reward_id=first.id, idempotency_key="redeem-1", location_id="L1"
    ).event
    replayed = square.loyalty.rewards.redeem(
        reward_id=first.id, idempotency_key="redeem-1", location_id="L1"
    ).event

    assert replayed.id == redeemed.id
    assert balance(customer) == 700
    assert Reward.objects.count() == 1
    assert customer.events.count() == 3  # the points given, the reward, its redemption

    with pytest.raises(ApiError) as reused:
        square.loyalty.rewards.create(
            reward={**reward, "reward_tier_id": str(tiers["cake"].pk)},
            idempotency_key="create-1",
            request_options=NO_RETRY,
        )
    assert reused.value.status_code == 400
    assert reused.value.body["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_refusals_in_squares_format(square: Square, tiers, customer, program):
    short = AccountFactory(program=program)
    cases = [
        (
            {"loyalty_account_id": str(short.pk), "reward_tier_id": str(tiers["coffee"].pk)},
            ("BAD_REQUEST", "reward.reward_tier_id"),  # the tier costs more than the balance
        ),
        (
            {"loyalty_account_id": str(customer.pk), "reward_tier_id": "nope"},
            ("INVALID_VALUE", "reward.reward_tier_id"),
        ),
        (
            {"loyalty_account_id": "nope", "reward_tier_id": str(tiers["coffee"].pk)},
            ("INVALID_VALUE", "reward.loyalty_account_id"),
        ),
    ]
    for index, (reward, (code, field)) in enumerate(cases):
        with pytest.raises(ApiError) as refused:
            square.loyalty.rewards.create(
                reward=reward, idempotency_key=f"k{index}", request_options=NO_RETRY
            )
        error = refused.value.body["errors"][0]
        assert refused.value.status_code == 400
        assert (error["category"], error["code"], error.get("field")) == (
            "INVALID_REQUEST_ERROR",
            code,
            field,
        )
    with pytest.raises(ApiError) as missing:
        square.loyalty.rewards.get(reward_id="7b0b9a55-1e6f-4a63-9d0b-2b8c2f6f1f00")
    assert missing.value.status_code == 404
    assert Reward.objects.count() == 0
    assert balance(short) == 0


@postgres_only
def test_concurrent_creates_against_one_reward_s_worth_exactly_one_succeeds(
    square: Square, tiers, program, reasons, manager
):
    account = AccountFactory(program=program)
    services.adjust_points(
        account=account,
        points=300,
        reason=reasons["REWARD"],
        actor=services.Actor.of_operator(manager),
    )
    reward = {"loyalty_account_id": str(account.pk), "reward_tier_id": str(tiers["coffee"].pk)}

    def create(n: int) -> str:
        try:
            square.loyalty.rewards.create(
                reward=reward, idempotency_key=f"race-{n}", request_options=NO_RETRY
            )
            return "ISSUED"
        except ApiError as refused:
            return refused.body["errors"][0]["code"]

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = sorted(pool.map(create, range(4)))

    assert outcomes == ["BAD_REQUEST"] * 3 + ["ISSUED"]
    assert balance(account) == 0
    assert Reward.objects.filter(account=account).count() == 1
    assert ledger_discrepancies() == []
