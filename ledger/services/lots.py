"""Point lots: which earned points are left, and when they expire.

Every positive event puts its points (the part above zero) in a lot dated by the program's
expiration policy; every negative event takes points from the soonest-expiring lots first.
Lots are derived data, kept in the event's transaction: for every account the lots' remaining
points add up to max(balance, 0).
"""

import functools
from datetime import datetime

import isodate
from django.db.models import F, QuerySet

from accounts.models import LoyaltyAccount, Program

from ..models import LotConsumption, LoyaltyEvent, PointLot
from . import statements


def lot_expiry(program: Program, earned_at: datetime) -> datetime | None:
    """When points earned at `earned_at` expire under the program's policy (None: never)."""
    if not program.expiration_policy:
        return None
    return earned_at + _duration(program.expiration_policy)


# A program's policy, parsed once per process rather than once per positive event (the
# policies are few; a parsed one is an immutable value).
_duration = functools.lru_cache(maxsize=64)(isodate.parse_duration)


def open_lots(account: LoyaltyAccount) -> QuerySet[PointLot]:
    """Lots with points left, soonest-expiring first (never-expiring last), then oldest."""
    return PointLot.objects.filter(account=account, is_open=True).order_by(
        F("expires_at").asc(nulls_last=True), "created_at", "id"
    )


def _new_lot(account, event, points, expires_at, created_at) -> PointLot:
    """A lot of `points` earned by `event`, none of them spent yet."""
    return PointLot(
        account=account,
        event=event,
        points=points,
        remaining=points,
        expires_at=expires_at,
        created_at=created_at,
    )


# The receiving halves of a transfer or merge: their points arrive in the lots they left.
CARRIED_IN = (LoyaltyEvent.Type.TRANSFER_IN, LoyaltyEvent.Type.MERGE_IN)


def carry_lots(account: LoyaltyAccount, event: LoyaltyEvent, above_zero: int) -> None:
    """Give `account` the points its counterpart event took from the other account's lots,
    each keeping its expiry date (and age), so that FIFO expiry stays exact. Points the other
    account did not have in lots (it overdrew) get a new lot dated now; a negative balance here
    is paid back first, from the soonest-expiring points."""
    pieces = [
        (taken.points, taken.lot.expires_at, taken.lot.created_at)
        for taken in LotConsumption.objects.filter(event_id=event.counterpart_id)
        .select_related("lot")
        .order_by("id")
    ]
    uncarried = event.points - sum(p for p, _, _ in pieces)
    if uncarried > 0:
        pieces.append((uncarried, lot_expiry(account.program, event.created_at), event.created_at))
    debt = event.points - above_zero
    lots = []
    for points, expires_at, created_at in pieces:
        paid = min(debt, points)
        debt -= paid
        if points - paid > 0:
            lots.append(_new_lot(account, event, points - paid, expires_at, created_at))
    PointLot.objects.bulk_create(lots)


def undone_event(event: LoyaltyEvent) -> LoyaltyEvent | None:
    """The event whose points `event` gives back or takes back: a reversal's original, or
    the CREATE_REWARD of a deleted reward (whose points return with their original expiry)."""
    if event.type == LoyaltyEvent.Type.DELETE_REWARD:
        return LoyaltyEvent.objects.get(
            reward_id=event.reward_id, type=LoyaltyEvent.Type.CREATE_REWARD
        )
    return event.reverses


def update_lots(account: LoyaltyAccount, event: LoyaltyEvent, balance_before: int) -> None:
    """Keep the lots in step with `event`: sum(remaining) == max(balance, 0) afterwards."""
    if event.points == 0:
        return  # a redeemed reward: its points left the lots when it was issued
    original = undone_event(event)
    if event.points > 0:
        # Only the part above zero is spendable; the rest pays back a negative balance.
        above_zero = max(0, balance_before + event.points) - max(0, balance_before)
        if event.type in CARRIED_IN:
            carry_lots(account, event, above_zero)
            return
        restored = 0
        if original is not None:
            # Undoing a removal (or deleting a reward) gives the points back to the lots they
            # were taken from.
            for taken in original.consumptions.order_by("id"):
                give = min(taken.points, above_zero - restored)
                if give <= 0:
                    break
                PointLot.objects.filter(pk=taken.lot_id).update(remaining=F("remaining") + give)
                restored += give
        if above_zero > restored:
            expires_at = lot_expiry(account.program, event.created_at)
            statements.insert(
                _new_lot(account, event, above_zero - restored, expires_at, event.created_at)
            )
        return
    needed = -event.points
    # Undoing an earning takes back that event's own points first.
    page = list(PointLot.objects.filter(event=original, is_open=True)) if original else []
    consumptions = []
    while needed > 0:
        # A lot emptied here drops out of the next query; only the last one is partly used.
        page = page or list(open_lots(account)[:100])
        if not page:
            break  # the balance goes below zero: nothing left to take from
        for lot in page:
            take = min(lot.remaining, needed)
            PointLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - take)
            consumptions.append(LotConsumption(event=event, lot=lot, points=take))
            needed -= take
            if needed == 0:
                break
        page = []
    LotConsumption.objects.bulk_create(consumptions)
