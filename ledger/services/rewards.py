"""Reward tiers and rewards (Square's reward lifecycle), as events in the ledger.

A manager offers reward tiers (a name for a number of points). Issuing a reward from a tier
takes its points from the balance at once (CREATE_REWARD): the points leave the soonest-
expiring lots like any removal, and never need a manager's approval, since a manager priced
the tier. The reward is then either redeemed (REDEEM_REWARD, no points, final) or deleted
(DELETE_REWARD), which gives the points back to the very lots they came from, with their
original expiry: points that expired while locked in the reward expire at the next run.

Every command locks the account row first (as every balance change does), then the reward.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import LoyaltyAccount, Program

from ..exceptions import (
    InsufficientPoints,
    InvalidRewardTier,
    LedgerError,
    RewardNotIssued,
    RewardTierNotFound,
    RewardTierRetired,
    UnknownLocation,
)
from ..models import LoyaltyEvent, Reward, RewardTier
from .actors import Actor
from .idempotency import idempotent
from .posting import append, lock
from .rules import MAX_POINTS

NAME_LENGTH = RewardTier._meta.get_field("name").max_length
ORDER_ID_LENGTH = Reward._meta.get_field("order_id").max_length


# --- Tiers -----------------------------------------------------------------------------------


def _tier_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidRewardTier("Give the reward tier a name.")
    if len(name) > NAME_LENGTH:
        raise InvalidRewardTier(f"A reward tier's name has at most {NAME_LENGTH} characters.")
    return name


@transaction.atomic
def add_reward_tier(*, program: Program, name: str, points: int, actor: Actor) -> RewardTier:
    """A new reward tier of the program: `name` for `points` points."""
    actor.require_manager("change the reward tiers")
    name = _tier_name(name)
    if isinstance(points, bool) or not isinstance(points, int) or not 0 < points <= MAX_POINTS:
        raise InvalidRewardTier(
            f"A reward tier costs a whole number of points from 1 to {MAX_POINTS:,}.",
            field="points",
        )
    tier = RewardTier.objects.create(
        program=program, name=name, points=points, created_at=timezone.now()
    )
    actor.audit(
        action="reward_tier.added",
        target=tier,
        summary=f"Added reward tier “{tier.name}” for {points:,} points",
        details={"name": name, "points": points},
    )
    return tier


@transaction.atomic
def rename_reward_tier(*, tier: RewardTier, name: str, actor: Actor) -> RewardTier:
    """Rename a tier; its rewards show the new name (their points never change)."""
    actor.require_manager("change the reward tiers")
    before, tier.name = tier.name, _tier_name(name)
    tier.save(update_fields=["name"])
    actor.audit(
        action="reward_tier.renamed",
        target=tier,
        summary=f"Renamed reward tier “{before}” to “{tier.name}”",
        details={"before": before, "after": tier.name},
    )
    return tier


@transaction.atomic
def retire_reward_tier(*, tier: RewardTier, actor: Actor) -> RewardTier:
    """Stop issuing rewards from a tier; rewards already issued stay redeemable."""
    actor.require_manager("change the reward tiers")
    tier = RewardTier.objects.select_for_update().get(pk=tier.pk)
    if tier.active:
        tier.active = False
        tier.retired_at = timezone.now()
        tier.save(update_fields=["active", "retired_at"])
        actor.audit(
            action="reward_tier.retired",
            target=tier,
            summary=f"Retired reward tier “{tier.name}”",
        )
    return tier


# --- Rewards ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardPreview:
    """What issuing a reward from `tier` would do now: the balance before and after, and
    the refusals (none: it would be issued)."""

    tier: RewardTier
    balance_before: int
    balance_after: int
    problems: tuple[LedgerError, ...]

    @property
    def allowed(self) -> bool:
        return not self.problems


def preview_reward(
    *, account: LoyaltyAccount, tier: RewardTier, actor: Actor, order_id: str | None = None
) -> RewardPreview:
    """What `create_reward` with the same arguments would do now. Writes nothing."""
    problems: list[LedgerError] = []
    if tier.program_id != account.program_id:
        problems.append(RewardTierNotFound())
    elif not tier.active:
        problems.append(RewardTierRetired(f"The reward tier “{tier.name}” is retired."))
    if order_id and len(order_id) > ORDER_ID_LENGTH:
        problems.append(
            LedgerError(f"An order id has at most {ORDER_ID_LENGTH} characters.", field="order_id")
        )
    if account.balance < tier.points:
        unit = account.program.terminology_other.lower()
        problems.append(
            InsufficientPoints(
                f"The customer has {account.balance:,} {unit}; “{tier.name}” needs {tier.points:,}."
            )
        )
    return RewardPreview(
        tier=tier,
        balance_before=account.balance,
        balance_after=account.balance - tier.points,
        problems=tuple(problems),
    )


def _locked(reward: Reward) -> tuple[LoyaltyAccount, Reward]:
    """The reward's account and the reward, locked in that order (the order every balance
    change takes), the reward re-read so its status is the committed one."""
    account = lock(reward.account)
    return account, Reward.objects.select_for_update().select_related("tier").get(pk=reward.pk)


def _require_issued(reward: Reward, action: str) -> None:
    if reward.status != Reward.Status.ISSUED:
        raise RewardNotIssued(
            f"This reward was {reward.get_status_display().lower()} already; it cannot be {action}."
        )


@idempotent("create_reward")
def create_reward(
    *,
    account: LoyaltyAccount,
    tier: RewardTier,
    actor: Actor,
    order_id: str | None = None,
    idempotency_key: str | None = None,
) -> Reward:
    """Issue a reward from `tier`: its points leave the balance now (a CREATE_REWARD event).
    Refused when the balance is short or the tier retired or of another program."""
    account = lock(account)
    tier = RewardTier.objects.get(pk=tier.pk)  # its state now, not when the page loaded
    preview = preview_reward(account=account, tier=tier, actor=actor, order_id=order_id)
    if preview.problems:
        raise preview.problems[0]
    now = timezone.now()
    reward = Reward.objects.create(
        program_id=account.program_id,
        account=account,
        tier=tier,
        points=tier.points,
        order_id=order_id or None,
        created_at=now,
        updated_at=now,
    )
    event = append(
        account,
        points=-tier.points,
        affects_lifetime=False,
        actor=actor,
        type=LoyaltyEvent.Type.CREATE_REWARD,
        reward=reward,
        history_title=f"Reward: {tier.name}"[:200],
        order_id=order_id or None,
    )
    # The reward's times are its events' times (strictly after the account's previous event).
    reward.created_at = reward.updated_at = event.created_at
    reward.save(update_fields=["created_at", "updated_at"])
    return reward


@idempotent("redeem_reward")
def redeem_reward(
    *,
    reward: Reward,
    actor: Actor,
    location_id: str = "",
    idempotency_key: str | None = None,
) -> Reward:
    """Mark an issued reward used (a REDEEM_REWARD event of no points). Final."""
    account, reward = _locked(reward)
    _require_issued(reward, "redeemed")
    if account.program.location_ids and location_id not in account.program.location_ids:
        raise UnknownLocation()
    event = append(
        account,
        points=0,
        affects_lifetime=False,
        actor=actor,
        type=LoyaltyEvent.Type.REDEEM_REWARD,
        reward=reward,
        history_title=f"Reward redeemed: {reward.tier.name}"[:200],
        order_id=reward.order_id,
        location_id=location_id,
    )
    reward.status = Reward.Status.REDEEMED
    reward.redeemed_at = reward.updated_at = event.created_at
    reward.save(update_fields=["status", "redeemed_at", "updated_at"])
    return reward


@idempotent("delete_reward")
def delete_reward(*, reward: Reward, actor: Actor, idempotency_key: str | None = None) -> Reward:
    """Give an issued reward's points back (a DELETE_REWARD event), to the lots they came
    from with their original expiry. A redeemed reward cannot be deleted."""
    account, reward = _locked(reward)
    _require_issued(reward, "deleted")
    event = append(
        account,
        points=reward.points,
        affects_lifetime=False,
        actor=actor,
        type=LoyaltyEvent.Type.DELETE_REWARD,
        reward=reward,
        history_title=f"Reward deleted: {reward.tier.name}"[:200],
        order_id=reward.order_id,
    )
    reward.status = Reward.Status.DELETED
    reward.updated_at = event.created_at
    reward.save(update_fields=["status", "updated_at"])
    return reward
