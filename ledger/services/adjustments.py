"""Adjusting and accumulating points: the commands every face calls.

`adjust_points` is the one command for "change this customer's balance for a reason": it
decides, through `rules.check_adjustment`, whether to apply the change now, hold it for a
manager's approval, or refuse it, and it does so the same way for the console, the native API,
the Square and Yotpo dialects. `preview_adjustment` answers the same question without writing.
"""

from dataclasses import dataclass

from accounts.models import LoyaltyAccount

from .. import lookups
from ..exceptions import DuplicateOrder, InvalidAmount, UnknownLocation
from ..models import ApprovalRequest, LoyaltyEvent, Reason
from .actors import Actor
from .approvals import hold_for_approval
from .idempotency import idempotent
from .limits import lock_agent
from .posting import append, lock
from .rules import (
    AdjustmentPreview,
    amount_problems,
    check_adjustment,
    closed_problems,
    lifetime_effect,
)

TITLE_LENGTH = 200


@dataclass(frozen=True)
class Adjustment:
    """What `adjust_points` did: applied it (`event`) or held it for approval (`approval`)."""

    event: LoyaltyEvent | None = None
    approval: ApprovalRequest | None = None

    @classmethod
    def of(cls, made: LoyaltyEvent | ApprovalRequest) -> "Adjustment":
        if isinstance(made, ApprovalRequest):
            return cls(approval=made)
        return cls(event=made)

    @property
    def held(self) -> bool:
        return self.approval is not None

    @property
    def made(self) -> LoyaltyEvent | ApprovalRequest:
        return self.approval if self.approval is not None else self.event


def preview_adjustment(
    *,
    account: LoyaltyAccount,
    points: int,
    actor: Actor,
    reason: Reason | None = None,
    reason_text: str = "",
    affects_lifetime: bool | None = None,
    history_title: str = "",
    note: str = "",
    allow_negative: bool = False,
) -> AdjustmentPreview:
    """What `adjust_points` with the same arguments would do now. Writes nothing."""
    return check_adjustment(
        account=account,
        points=points,
        reason=reason,
        affects_lifetime=lifetime_effect(points, reason, affects_lifetime),
        actor=actor,
        note=note,
        history_title=history_title,
        reason_text=reason_text,
        allow_negative=allow_negative,
    )


def default_title(reason: Reason | None, reason_text: str) -> str:
    """The customer-facing title when none is given: the reason's label, or the start of a
    free-text reason (kept whole in `reason_text`)."""
    if reason is not None:
        return reason.label
    if len(reason_text) <= TITLE_LENGTH:
        return reason_text
    return reason_text[: TITLE_LENGTH - 1] + "…"


@idempotent("adjust", result=Adjustment.of)
def adjust_points(
    *,
    account: LoyaltyAccount,
    points: int,
    actor: Actor,
    reason: Reason | str | None = None,
    reason_text: str = "",
    affects_lifetime: bool | None = None,
    history_title: str = "",
    note: str = "",
    visible_to_customer: bool = True,
    allow_negative: bool = False,
    location_id: str = "",
    idempotency_key: str | None = None,
) -> Adjustment:
    """Add (points > 0) or remove (points < 0) points, for a reason.

    Refuses with the first problem `preview_adjustment` reports; holds an agent's adjustment
    above the program's approval threshold as an `ApprovalRequest`; otherwise appends the
    event. With an idempotency key, a retry of the same request returns the first result.
    `reason` may be given by its code, looked up in the account's program once it is locked
    (so a face need not read the account first).
    """
    account = lock(account)
    if isinstance(reason, str):
        reason = lookups.reason(account.program, reason)
    lock_agent(actor, account.program, points)
    # The preview's own judgement, on the locked account: the two cannot disagree.
    preview = preview_adjustment(
        account=account,
        points=points,
        actor=actor,
        reason=reason,
        reason_text=reason_text,
        affects_lifetime=affects_lifetime,
        history_title=history_title,
        note=note,
        allow_negative=allow_negative,
    )
    if preview.problems:
        raise preview.problems[0]
    if preview.needs_approval:
        approval = hold_for_approval(
            account=account,
            points=points,
            reason=reason,
            history_title=history_title,
            note=note,
            visible_to_customer=visible_to_customer,
            actor=actor,
        )
        return Adjustment(approval=approval)
    event = append(
        account,
        points=points,
        affects_lifetime=lifetime_effect(points, reason, affects_lifetime),
        actor=actor,
        type=LoyaltyEvent.Type.ADJUST_POINTS,
        reason=reason,
        reason_text=reason_text or (reason.label if reason else ""),
        history_title=history_title or default_title(reason, reason_text),
        note=note,
        visible_to_customer=visible_to_customer,
        location_id=location_id,
    )
    return Adjustment(event=event)


@idempotent("accumulate")
def accumulate_points(
    *,
    account: LoyaltyAccount,
    points: int,
    actor: Actor,
    order_id: str | None = None,
    location_id: str = "",
    history_title: str = "",
    idempotency_key: str | None = None,
) -> LoyaltyEvent:
    """Credit points earned by a purchase (counts towards points earned), once per order."""
    account = lock(account)
    problems = closed_problems(account) + amount_problems(points)
    if not problems and points < 0:
        problems = [InvalidAmount("Accumulated points must be positive.")]
    if problems:
        raise problems[0]
    if account.program.location_ids and location_id not in account.program.location_ids:
        raise UnknownLocation()
    if (
        order_id
        and LoyaltyEvent.objects.filter(
            account=account, order_id=order_id, type=LoyaltyEvent.Type.ACCUMULATE_POINTS
        ).exists()
    ):
        raise DuplicateOrder()
    return append(
        account,
        points=points,
        affects_lifetime=True,
        actor=actor,
        type=LoyaltyEvent.Type.ACCUMULATE_POINTS,
        history_title=history_title or "Points earned",
        order_id=order_id or None,
        location_id=location_id,
    )
