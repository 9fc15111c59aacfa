"""Reads of point lots: what will expire, and when."""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Min, Sum
from django.db.models.functions import TruncDate

from accounts.models import LoyaltyAccount
from ledger.models import PointLot


@dataclass(frozen=True)
class ExpiryDeadline:
    points: int
    expires_at: datetime


def upcoming_expirations(*, account: LoyaltyAccount, limit: int = 10) -> list[ExpiryDeadline]:
    """The account's unspent points that will expire, by day (UTC), soonest first: the sum
    of each day's open lots and the earliest of their deadlines. The database groups the
    lots and returns `limit` days, however many lots the account holds."""
    days = (
        PointLot.objects.filter(account=account, is_open=True, expires_at__isnull=False)
        .annotate(day=TruncDate("expires_at", tzinfo=UTC))
        .values("day")
        .annotate(points=Sum("remaining"), first=Min("expires_at"))
        .order_by("day")[:limit]
    )
    return [ExpiryDeadline(points=row["points"], expires_at=row["first"]) for row in days]
