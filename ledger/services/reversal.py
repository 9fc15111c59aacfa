"""Undoing a mistake: a REVERSAL event of the opposite points, pointing at the original."""

from ..exceptions import AlreadyReversed, NotAllowed, NoteRequired, NotReversible
from ..models import LoyaltyEvent
from .actors import Actor
from .idempotency import idempotent
from .posting import append, lock
from .rules import check_adjustment


@idempotent("reverse")
def reverse_event(
    *,
    event: LoyaltyEvent,
    note: str,
    actor: Actor,
    allow_negative: bool = False,
    idempotency_key: str | None = None,
) -> LoyaltyEvent:
    """Undo `event`. Managers and API clients may; an event is reversed once."""
    if not actor.may_reverse:
        raise NotAllowed("Only a manager can reverse an event.")
    account = lock(event.account)
    if event.type == LoyaltyEvent.Type.REVERSAL:
        raise NotReversible("A reversal cannot itself be reversed; make a new adjustment.")
    if event.is_paired:
        # One half alone would break the pair (and the lots carried with it).
        raise NotReversible(
            "A merge cannot be reversed."
            if event.type in (LoyaltyEvent.Type.MERGE_OUT, LoyaltyEvent.Type.MERGE_IN)
            else "A transfer cannot be reversed; transfer the points back instead."
        )
    if event.type in LoyaltyEvent.REWARD_TYPES:
        raise NotReversible("A reward's events are not reversed; delete the reward instead.")
    if LoyaltyEvent.objects.filter(reverses=event).exists():
        raise AlreadyReversed()
    if not note.strip():
        raise NoteRequired("Say why this event is reversed.")
    preview = check_adjustment(
        account=account,
        points=-event.points,
        reason=None,
        affects_lifetime=event.affects_lifetime,
        actor=actor,
        note=note,
        allow_negative=allow_negative,
    )
    if preview.problems:
        raise preview.problems[0]
    reversal = append(
        account,
        points=-event.points,
        affects_lifetime=event.affects_lifetime,
        actor=actor,
        type=LoyaltyEvent.Type.REVERSAL,
        reason=event.reason,
        reason_text=event.reason_text,
        history_title=f"Reversal: {event.history_title}"[:200]
        if event.history_title
        else "Reversal",
        note=note,
        visible_to_customer=event.visible_to_customer,
        location_id=event.location_id,
        reverses=event,
    )
    actor.audit(
        action="event.reversed",
        target=event,
        summary=f"Reversed {event.points:+,} on {account.display_name}: {note.strip()}",
        details={"event": str(event.pk), "reversal": str(reversal.pk), "points": reversal.points},
    )
    return reversal
