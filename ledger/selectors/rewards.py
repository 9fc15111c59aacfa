"""Reads of reward tiers and rewards."""

from django.db.models import QuerySet

from accounts.models import LoyaltyAccount, Program
from ledger.models import Reward, RewardTier


def reward_tiers(*, program: Program, include_retired: bool = False) -> QuerySet[RewardTier]:
    """The program's tiers, cheapest first; those still offered unless `include_retired`."""
    tiers = RewardTier.objects.filter(program=program)
    return tiers if include_retired else tiers.filter(active=True)


def account_rewards(
    *, account: LoyaltyAccount, statuses: tuple[str, ...] | None = None
) -> QuerySet[Reward]:
    """The account's rewards (of these statuses, when given), most recently changed first."""
    rewards = Reward.objects.filter(account=account).select_related("tier")
    if statuses is not None:
        rewards = rewards.filter(status__in=statuses)
    return rewards.order_by("-updated_at", "-id")


def open_rewards(*, account: LoyaltyAccount) -> QuerySet[Reward]:
    """The account's rewards still issued: neither redeemed nor deleted."""
    return account_rewards(account=account, statuses=(Reward.Status.ISSUED,))
