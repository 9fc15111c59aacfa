"""The demo's reward tiers, and rewards made the way an agent makes them: one issued and
still open, one redeemed."""

from django.contrib.auth import get_user_model

from accounts.models import LoyaltyAccount, Program
from ledger.models import Reward, RewardTier
from ledger.services import Actor, add_reward_tier, create_reward, redeem_reward

from .demo_data import DEMO_OPERATORS

DEMO_TIERS = (("Free coffee", 150), ("Pastry and coffee", 400), ("10% off an order", 1_000))


def ensure_demo_rewards(program: Program) -> list[Reward]:
    """Tiers for the program, then an issued and a redeemed reward on the first customer who
    can afford both; nothing when the demo operators or such a customer are missing, or when
    rewards exist already."""
    users = get_user_model().objects
    agent = users.filter(username=DEMO_OPERATORS[0][0]).first()
    manager = users.filter(username=DEMO_OPERATORS[1][0]).first()
    if agent is None or manager is None:
        return []
    if not RewardTier.objects.filter(program=program).exists():
        for name, points in DEMO_TIERS:
            add_reward_tier(
                program=program, name=name, points=points, actor=Actor.of_operator(manager)
            )
    if Reward.objects.filter(program=program).exists():
        return []
    coffee, pastry = RewardTier.objects.filter(program=program, active=True).order_by("points")[:2]
    needed = coffee.points + pastry.points
    account = (
        LoyaltyAccount.objects.filter(program=program, balance__gte=needed)
        .order_by("created_at", "id")
        .first()
    )
    if account is None:
        return []
    by_agent = Actor.of_operator(agent)
    used = create_reward(account=account, tier=coffee, actor=by_agent)
    redeem_reward(reward=used, actor=by_agent, location_id=(program.location_ids or [""])[0])
    kept = create_reward(account=account, tier=pastry, actor=by_agent)
    return [used, kept]
