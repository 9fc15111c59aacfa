"""Reward tiers and rewards: issued from the balance, redeemed once, or deleted with the
points returned to the lots they came from."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction

from ledger import lookups, services
from ledger.exceptions import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidRewardTier,
    NotAllowed,
    NotReversible,
    RewardNotFound,
    RewardNotIssued,
    RewardTierNotFound,
    RewardTierRetired,
    UnknownLocation,
)
from ledger.models import LoyaltyEvent, PointLot, Reward
from ledger.selectors import account_rewards, ledger_discrepancies, open_rewards, reward_tiers

from ..factories import AccountFactory

Type = LoyaltyEvent.Type


@pytest.fixture
def as_manager(manager):
    return services.Actor.of_operator(manager)


@pytest.fixture
def as_agent(agent):
    return services.Actor.of_operator(agent)


@pytest.fixture
def coffee(program, as_manager):
    return services.add_reward_tier(
        program=program, name="Free coffee", points=300, actor=as_manager
    )


def issue(account, tier, actor, **kwargs):
    return services.create_reward(account=account, tier=tier, actor=actor, **kwargs)


# --- Tiers -----------------------------------------------------------------------------------


def test_a_manager_adds_renames_and_retires_a_tier(program, as_manager):
    tier = services.add_reward_tier(program=program, name="  Cake ", points=500, actor=as_manager)
    services.rename_reward_tier(tier=tier, name="Cake slice", actor=as_manager)
    services.retire_reward_tier(tier=tier, actor=as_manager)

    tier.refresh_from_db()
    assert (tier.name, tier.points, tier.active) == ("Cake slice", 500, False)
    assert tier.retired_at is not None
    assert list(program.reward_tiers.all()) == [tier]


def test_an_agent_cannot_change_tiers(program, coffee, as_agent):
    with pytest.raises(NotAllowed, match="Only a manager can change the reward tiers"):
        services.add_reward_tier(program=program, name="Tea", points=100, actor=as_agent)
    with pytest.raises(NotAllowed):
        services.rename_reward_tier(tier=coffee, name="Tea", actor=as_agent)
    with pytest.raises(NotAllowed):
        services.retire_reward_tier(tier=coffee, actor=as_agent)
    coffee.refresh_from_db()
    assert (coffee.name, coffee.active) == ("Free coffee", True)


@pytest.mark.parametrize(
    ("name", "points", "field", "message"),
    [
        ("  ", 100, "name", "Give the reward tier a name"),
        ("x" * 201, 100, "name", "at most 200 characters"),
        ("Tea", 0, "points", "from 1 to 2,147,483,647"),
        ("Tea", -5, "points", "from 1 to"),
        ("Tea", "100", "points", "whole number"),
        ("Tea", True, "points", "whole number"),
    ],
)
def test_a_tier_needs_a_name_and_positive_points(program, as_manager, name, points, field, message):
    with pytest.raises(InvalidRewardTier, match=message) as refused:
        services.add_reward_tier(program=program, name=name, points=points, actor=as_manager)
    assert refused.value.field == field
    assert not program.reward_tiers.exists()


def test_the_database_refuses_a_tier_without_points(program, coffee):
    with pytest.raises(IntegrityError), transaction.atomic():
        type(coffee).objects.filter(pk=coffee.pk).update(points=0)


# --- Issuing ---------------------------------------------------------------------------------


def test_issuing_takes_the_points_now_and_writes_a_create_reward_event(funded, coffee, as_agent):
    reward = issue(funded, coffee, as_agent, order_id="ORDER-1")

    funded.refresh_from_db()
    assert (funded.balance, funded.lifetime_points) == (700, 1000)
    reward.refresh_from_db()
    assert (reward.status, reward.points, reward.tier, reward.order_id) == (
        "ISSUED",
        300,
        coffee,
        "ORDER-1",
    )
    event = funded.events.get(type=Type.CREATE_REWARD)
    assert (event.points, event.affects_lifetime, event.balance_after) == (-300, False, 700)
    assert (event.reward, event.history_title) == (reward, "Reward: Free coffee")
    assert reward.created_at == reward.updated_at == event.created_at
    assert ledger_discrepancies() == []


def test_issuing_is_refused_when_the_balance_is_short_and_writes_nothing(
    account, reasons, manager, coffee, as_agent
):
    services.adjust_points(
        account=account,
        points=299,
        reason=reasons["REWARD"],
        actor=services.Actor.of_operator(manager),
    )
    with pytest.raises(InsufficientPoints, match="has 299 points; “Free coffee” needs 300"):
        issue(account, coffee, as_agent, idempotency_key="k1")

    account.refresh_from_db()
    assert account.balance == 299
    assert not Reward.objects.exists()
    assert account.events.count() == 1


def test_a_retired_tier_issues_nothing_but_its_rewards_stay_redeemable(
    funded, coffee, as_manager, as_agent
):
    reward = issue(funded, coffee, as_agent)
    services.retire_reward_tier(tier=coffee, actor=as_manager)

    with pytest.raises(RewardTierRetired, match="“Free coffee” is retired"):
        issue(funded, coffee, as_agent)
    services.redeem_reward(reward=reward, actor=as_agent)

    reward.refresh_from_db()
    assert reward.status == "REDEEMED"


def test_a_tier_of_another_program_is_not_found(funded, as_manager, as_agent):
    other = services.create_program(name="Other")
    tier = services.add_reward_tier(program=other, name="Tea", points=10, actor=as_manager)

    with pytest.raises(RewardTierNotFound):
        issue(funded, tier, as_agent)
    assert not Reward.objects.exists()


def test_the_preview_agrees_with_the_command(funded, coffee, as_agent):
    preview = services.preview_reward(account=funded, tier=coffee, actor=as_agent)
    assert (preview.allowed, preview.balance_before, preview.balance_after) == (True, 1000, 700)

    for _ in range(3):
        issue(funded, coffee, as_agent)
    funded.refresh_from_db()
    preview = services.preview_reward(account=funded, tier=coffee, actor=as_agent)

    assert not preview.allowed
    with pytest.raises(type(preview.problems[0]), match=preview.problems[0].message):
        issue(funded, coffee, as_agent)


# --- Redeeming and deleting ------------------------------------------------------------------


def test_redeeming_is_final_and_moves_no_points(funded, coffee, as_agent):
    reward = issue(funded, coffee, as_agent, order_id="ORDER-1")

    services.redeem_reward(reward=reward, actor=as_agent, location_id="L1")

    reward.refresh_from_db()
    funded.refresh_from_db()
    assert reward.status == "REDEEMED" and reward.redeemed_at == reward.updated_at
    assert funded.balance == 700
    event = funded.events.get(type=Type.REDEEM_REWARD)
    assert (event.points, event.location_id, event.order_id) == (0, "L1", "ORDER-1")
    assert event.history_title == "Reward redeemed: Free coffee"
    with pytest.raises(RewardNotIssued, match="was redeemed already; it cannot be redeemed"):
        services.redeem_reward(reward=reward, actor=as_agent)
    with pytest.raises(RewardNotIssued, match="was redeemed already; it cannot be deleted"):
        services.delete_reward(reward=reward, actor=as_agent)
    funded.refresh_from_db()
    assert funded.balance == 700
    assert funded.events.count() == 3
    assert ledger_discrepancies() == []


def test_redeeming_at_a_location_outside_the_program_is_refused(funded, coffee, as_agent):
    funded.program.location_ids = ["L1"]
    funded.program.save()
    reward = issue(funded, coffee, as_agent)

    with pytest.raises(UnknownLocation):
        services.redeem_reward(reward=reward, actor=as_agent, location_id="L9")
    reward.refresh_from_db()
    assert reward.status == "ISSUED"


def test_deleting_returns_the_points_once(funded, coffee, as_agent):
    reward = issue(funded, coffee, as_agent)

    services.delete_reward(reward=reward, actor=as_agent)

    funded.refresh_from_db()
    reward.refresh_from_db()
    assert (funded.balance, funded.lifetime_points, reward.status) == (1000, 1000, "DELETED")
    event = funded.events.get(type=Type.DELETE_REWARD)
    assert (event.points, event.affects_lifetime, event.reward) == (300, False, reward)
    with pytest.raises(RewardNotIssued, match="was deleted already"):
        services.delete_reward(reward=reward, actor=as_agent)
    with pytest.raises(RewardNotIssued):
        services.redeem_reward(reward=reward, actor=as_agent)
    assert ledger_discrepancies() == []


def test_a_deleted_reward_gives_the_points_back_with_their_original_expiry(
    program, reasons, manager, coffee, as_agent
):
    program.expiration_policy = "P30D"
    program.save()
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    actor = services.Actor.of_operator(manager)
    with time_machine.travel(start, tick=False) as clock:
        account = AccountFactory(program=program)
        services.adjust_points(account=account, points=200, reason=reasons["REWARD"], actor=actor)
        clock.shift(timedelta(days=10))
        services.adjust_points(account=account, points=200, reason=reasons["REWARD"], actor=actor)
        reward = issue(account, coffee, as_agent)  # 200 from the first lot, 100 from the second
        assert list(
            PointLot.objects.order_by("created_at").values_list("remaining", flat=True)
        ) == [
            0,
            100,
        ]

        services.delete_reward(reward=reward, actor=as_agent)
        lots = list(PointLot.objects.order_by("created_at").values_list("remaining", "expires_at"))
        assert [remaining for remaining, _ in lots] == [200, 200]
        assert lots[0][1].date() == (start + timedelta(days=30)).date()
        assert PointLot.objects.count() == 2  # no new lot: the old ones were refilled

        # The first lot's points expire on their own date, as if never locked in the reward.
        clock.move_to(start + timedelta(days=30, seconds=1))
        services.expire_points(account=account)
    account.refresh_from_db()
    assert account.balance == 200
    assert ledger_discrepancies() == []


def test_rebuilding_the_lots_after_rewards_gives_the_same_lots(
    program, account, reasons, manager, coffee, as_agent
):
    program.expiration_policy = "P30D"
    program.save()
    actor = services.Actor.of_operator(manager)
    services.adjust_points(account=account, points=500, reason=reasons["REWARD"], actor=actor)
    services.delete_reward(reward=issue(account, coffee, as_agent), actor=as_agent)
    services.redeem_reward(reward=issue(account, coffee, as_agent), actor=as_agent)
    before = list(PointLot.objects.order_by("created_at").values_list("points", "remaining"))

    services.rebuild_lots(account=account)

    assert (
        list(PointLot.objects.order_by("created_at").values_list("points", "remaining")) == before
    )
    assert before == [(500, 200)]


def test_reward_events_are_not_reversed(funded, coffee, as_agent, manager):
    reward = issue(funded, coffee, as_agent)
    event = funded.events.get(type=Type.CREATE_REWARD)

    with pytest.raises(NotReversible, match="delete the reward instead"):
        services.reverse_event(event=event, note="oops", actor=services.Actor.of_operator(manager))
    reward.refresh_from_db()
    assert reward.status == "ISSUED"


def test_the_database_refuses_a_reward_event_without_a_reward(funded, manager):
    with pytest.raises(IntegrityError), transaction.atomic():
        LoyaltyEvent.objects.create(
            program=funded.program,
            account=funded,
            type=Type.CREATE_REWARD,
            points=-10,
            affects_lifetime=False,
            balance_after=990,
            lifetime_after=1000,
            source="ADMIN_UI",
            actor=manager,
            created_at=funded.updated_at + timedelta(seconds=1),
        )


# --- Idempotency -----------------------------------------------------------------------------


def test_a_replayed_create_returns_the_same_reward_and_writes_nothing(funded, coffee, as_agent):
    first = issue(funded, coffee, as_agent, idempotency_key="k1")
    again = issue(funded, coffee, as_agent, idempotency_key="k1")

    assert again.pk == first.pk
    funded.refresh_from_db()
    assert funded.balance == 700
    assert Reward.objects.count() == 1 and funded.events.count() == 2


def test_a_key_reused_for_another_request_is_refused(funded, coffee, program, as_manager, as_agent):
    tea = services.add_reward_tier(program=program, name="Tea", points=100, actor=as_manager)
    issue(funded, coffee, as_agent, idempotency_key="k1")

    with pytest.raises(IdempotencyConflict):
        issue(funded, tea, as_agent, idempotency_key="k1")
    assert Reward.objects.count() == 1


def test_replayed_redeem_and_delete_return_the_reward_and_write_nothing(funded, coffee, as_agent):
    redeemed = issue(funded, coffee, as_agent)
    deleted = issue(funded, coffee, as_agent)
    services.redeem_reward(reward=redeemed, actor=as_agent, idempotency_key="r1")
    services.delete_reward(reward=deleted, actor=as_agent, idempotency_key="d1")
    count = funded.events.count()

    again = services.redeem_reward(reward=redeemed, actor=as_agent, idempotency_key="r1")
    gone = services.delete_reward(reward=deleted, actor=as_agent, idempotency_key="d1")

    assert (again.pk, again.status, gone.pk, gone.status) == (
        redeemed.pk,
        "REDEEMED",
        deleted.pk,
        "DELETED",
    )
    assert funded.events.count() == count


# --- Look-ups --------------------------------------------------------------------------------


def test_lookups_find_tiers_and_rewards_in_their_program(funded, coffee, as_agent):
    reward = issue(funded, coffee, as_agent)
    other = services.create_program(name="Other")

    assert lookups.reward_tier(str(coffee.pk), program=funded.program) == coffee
    assert lookups.reward(str(reward.pk)) == reward
    with pytest.raises(RewardTierNotFound):
        lookups.reward_tier(coffee.pk, program=other)
    with pytest.raises(RewardNotFound):
        lookups.reward(reward.pk, program=other)
    with pytest.raises(RewardNotFound):
        lookups.reward("not-a-uuid")


def test_rewards_of_one_account_do_not_touch_another(program, coffee, funded, as_agent):
    other = AccountFactory(program=program)
    issue(funded, coffee, as_agent)

    other.refresh_from_db()
    assert other.balance == 0 and not other.rewards.exists()


def test_selectors_list_offered_tiers_and_open_rewards(
    program, funded, coffee, as_manager, as_agent
):
    cake = services.add_reward_tier(program=program, name="Cake", points=100, actor=as_manager)
    old = services.add_reward_tier(program=program, name="Old", points=50, actor=as_manager)
    services.retire_reward_tier(tier=old, actor=as_manager)
    kept = issue(funded, coffee, as_agent)
    used = issue(funded, cake, as_agent)
    services.redeem_reward(reward=used, actor=as_agent)

    assert list(reward_tiers(program=program)) == [cake, coffee]
    assert list(reward_tiers(program=program, include_retired=True)) == [old, cake, coffee]
    assert list(open_rewards(account=funded)) == [kept]
    assert list(account_rewards(account=funded)) == [used, kept]
