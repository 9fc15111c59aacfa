"""Posting a transfer or a merge: two events, one on each locked account, naming each other.

The giving half is appended first and takes its points from the giver's lots, soonest-expiring
first (as any debit does); the receiving half then gets exactly those points in lots with their
original expiry dates (`lots.carry_lots`). Both go through `posting.append`, like every event.
"""

import uuid

from accounts.models import LoyaltyAccount

from ..models import LoyaltyEvent
from .actors import Actor
from .posting import append

TITLE_LENGTH = 200
Type = LoyaltyEvent.Type


def _title(text: str) -> str:
    return text if len(text) <= TITLE_LENGTH else text[: TITLE_LENGTH - 1] + "…"


def post_pair(
    *,
    source: LoyaltyAccount,
    target: LoyaltyAccount,
    points: int,
    earned: int,
    merge: bool,
    actor: Actor,
    reason_text: str,
    note: str,
) -> tuple[LoyaltyEvent, LoyaltyEvent]:
    """Move `points` (and, for a merge, `earned` points earned) from `source` to `target`,
    both locked by the caller; (out, in)."""
    out_id, in_id = uuid.uuid4(), uuid.uuid4()
    if merge:
        kinds = (Type.MERGE_OUT, Type.MERGE_IN)
        titles = (f"Merged into {target.display_name}", f"Merged from {source.display_name}")
    else:
        kinds = (Type.TRANSFER_OUT, Type.TRANSFER_IN)
        titles = (f"Transfer to {target.display_name}", f"Transfer from {source.display_name}")
    common = {"affects_lifetime": False, "actor": actor, "reason_text": reason_text, "note": note}
    out = append(
        source,
        points=-points,
        earned_moved=-earned,
        id=out_id,
        counterpart_id=in_id,
        type=kinds[0],
        history_title=_title(titles[0]),
        **common,
    )
    into = append(
        target,
        points=points,
        earned_moved=earned,
        id=in_id,
        counterpart_id=out_id,
        type=kinds[1],
        history_title=_title(titles[1]),
        **common,
    )
    return out, into


def post_merge(
    *, source: LoyaltyAccount, target: LoyaltyAccount, actor: Actor, note: str
) -> tuple[LoyaltyEvent, LoyaltyEvent]:
    """Move everything `source` holds to `target` and close `source` (both locked)."""
    pair = post_pair(
        source=source,
        target=target,
        points=source.balance,
        earned=source.lifetime_points,
        merge=True,
        actor=actor,
        reason_text="Duplicate account merged",
        note=note,
    )
    source.merged_into = target
    source.closed_at = pair[0].created_at
    source.save(update_fields=["merged_into", "closed_at"])
    # Accounts merged into the source earlier now lead straight to the survivor: one hop.
    LoyaltyAccount.objects.filter(merged_into=source).update(merged_into=target)
    actor.audit(
        action="account.merged",
        target=source,
        summary=f"Merged {source.display_name} into {target.display_name}",
        details={
            "source": str(source.pk),
            "target": str(target.pk),
            "points": pair[1].points,
            "events": [str(pair[0].pk), str(pair[1].pk)],
        },
    )
    return pair


def post_transfer(
    *,
    source: LoyaltyAccount,
    target: LoyaltyAccount,
    points: int,
    reason_text: str,
    note: str,
    actor: Actor,
) -> tuple[LoyaltyEvent, LoyaltyEvent]:
    pair = post_pair(
        source=source,
        target=target,
        points=points,
        earned=0,
        merge=False,
        actor=actor,
        reason_text=reason_text,
        note=note,
    )
    actor.audit(
        action="account.transferred",
        target=source,
        summary=f"Moved {points:,} from {source.display_name} to {target.display_name}",
        details={
            "source": str(source.pk),
            "target": str(target.pk),
            "points": points,
            "events": [str(pair[0].pk), str(pair[1].pk)],
        },
    )
    return pair
