"""Reads of point lots: what will expire, and when."""

from dataclasses import dataclass
from datetime import date, datetime

from accounts.models import LoyaltyAccount
from ledger.models import PointLot


@dataclass(frozen=True)
class ExpiryDeadline:
    points: int
    expires_at: datetime


def upcoming_expirations(*, account: LoyaltyAccount, limit: int = 10) -> list[ExpiryDeadline]:
    """The account's unspent points that will expire, by day, soonest first."""
    by_day: dict[date, ExpiryDeadline] = {}
    open_lots = (
        PointLot.objects.filter(account=account, is_open=True, expires_at__isnull=False)
        .order_by("expires_at")
        .values_list("remaining", "expires_at")
    )
    for remaining, expires_at in open_lots:
        day = expires_at.date()
        if day not in by_day and len(by_day) == limit:
            break
        earlier = by_day.get(day)
        by_day[day] = ExpiryDeadline(
            points=remaining + (earlier.points if earlier else 0),
            expires_at=earlier.expires_at if earlier else expires_at,
        )
    return list(by_day.values())
