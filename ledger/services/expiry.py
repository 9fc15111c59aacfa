"""Expiring points whose lots are past their date, and rebuilding lots from the events."""

from datetime import datetime

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import LoyaltyAccount

from ..models import LotConsumption, LoyaltyEvent, PointLot
from .actors import Actor
from .lots import update_lots
from .posting import append, lock


@transaction.atomic
def expire_points(*, account: LoyaltyAccount, now: datetime | None = None) -> LoyaltyEvent | None:
    """Expire the account's points whose lots are past their expiry date, as one
    EXPIRE_POINTS event; None when nothing is due. Safe to run twice or concurrently: the
    second run finds the lots already emptied."""
    account = lock(account)
    now = now or timezone.now()
    due = (
        PointLot.objects.filter(account=account, is_open=True, expires_at__lte=now).aggregate(
            total=Sum("remaining")
        )["total"]
        or 0
    )
    if due == 0:
        return None
    # The due lots expire before any other, so the ordinary soonest-first consumption in
    # update_lots takes exactly them.
    return append(
        account,
        points=-due,
        affects_lifetime=False,
        actor=Actor.system(),
        type=LoyaltyEvent.Type.EXPIRE_POINTS,
        history_title=f"{account.program.terminology_other} expired",
    )


@transaction.atomic
def rebuild_lots(*, account: LoyaltyAccount) -> None:
    """Recompute the account's lots from its events (they are derived data)."""
    account = lock(account)
    # A lot's event is on the lot's account: found through the events' index by account.
    LotConsumption.objects.filter(lot__event__account=account).delete()
    PointLot.objects.filter(event__account=account).delete()
    balance = 0
    for event in account.events.select_related("reverses").order_by("created_at", "id"):
        update_lots(account, event, balance)
        balance += event.points
