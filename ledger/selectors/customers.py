"""What a storefront reads about one customer besides the balance: purchases, rewards taken,
and a history that also shows the changes still waiting for a manager."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max

from accounts.models import LoyaltyAccount
from ledger.models import ApprovalRequest, LoyaltyEvent, Reward

from .events import EventQuery, matching_events, with_details
from .rewards import account_rewards


@dataclass(frozen=True)
class Purchases:
    count: int
    last_at: datetime | None


def purchases(*, account: LoyaltyAccount) -> Purchases:
    """The customer's purchases: the points accumulated for them, less those reversed (a
    refunded order), in one aggregate query."""
    accumulated = EventQuery(account_id=account.pk, types=(LoyaltyEvent.Type.ACCUMULATE_POINTS,))
    found = (
        matching_events(query=accumulated)
        .filter(reversed_by__isnull=True)
        .aggregate(count=Count("pk"), last_at=Max("created_at"))
    )
    return Purchases(count=found["count"], last_at=found["last_at"])


def rewards_taken(*, account: LoyaltyAccount) -> int:
    """How many rewards the customer took for points and did not give back (Yotpo's
    "perks redeemed"): issued or redeemed, not deleted."""
    kept = (Reward.Status.ISSUED, Reward.Status.REDEEMED)
    return account_rewards(account=account, statuses=kept).count()


def history_with_pending(
    *, account: LoyaltyAccount, limit: int = 100
) -> list[LoyaltyEvent | ApprovalRequest]:
    """The account's newest `limit` events and requests still waiting for a manager, newest
    first. A request that was approved is its event; a rejected one never changed anything."""
    events = list(
        with_details(matching_events(query=EventQuery(account_id=account.pk))).order_by(
            "-created_at", "-id"
        )[:limit]
    )
    pending = list(
        ApprovalRequest.objects.filter(account=account, status=ApprovalRequest.Status.PENDING)
        .select_related("reason")
        .order_by("-created_at", "-id")[:limit]
    )
    merged = sorted([*events, *pending], key=lambda item: item.created_at, reverse=True)
    return merged[:limit]
