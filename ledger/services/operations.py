"""Account operations for support: merging a customer's duplicate account, and transferring
points between two accounts.

Each is a pair of events, one on each account, naming each other (`pairs`); both accounts are
locked in one fixed order. A merge moves the whole balance and the points earned, carries the
open lots with their expiry dates, and closes the duplicate: it keeps its history and
identities, refuses new events, and look-ups by its identities find the surviving account. A
transfer moves a chosen amount under the overdraft rules of a normal debit, taking the
soonest-expiring points first and carrying their dates. Either waits for a manager when an
agent's adjustment of the same size would (the approval threshold, the daily limit).

Reversing either half is refused: one half alone would break the pair. A transfer is undone
by a transfer back; a merge is final.
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from accounts.models import LoyaltyAccount

from ..exceptions import (
    AccountClosed,
    InvalidAmount,
    LedgerError,
    ProgramMismatch,
    ReasonRequired,
    SameAccount,
)
from ..models import ApprovalRequest, LoyaltyEvent
from .actors import Actor
from .idempotency import idempotent
from .limits import lock_agent, over_daily_limit
from .lots import open_lots
from .pairs import post_merge, post_transfer
from .posting import lock_both
from .rules import (
    Verdict,
    amount_problems,
    check_adjustment,
    closed_problems,
    text_problems,
)


def _hold(
    *,
    kind: str,
    source: LoyaltyAccount,
    target: LoyaltyAccount,
    points: int,
    reason_text: str,
    note: str,
    actor: Actor,
) -> ApprovalRequest:
    """Keep an agent's merge or transfer for a manager, as an adjustment above the threshold."""
    approval = ApprovalRequest.objects.create(
        kind=kind,
        program_id=source.program_id,
        account=source,
        target=target,
        points=points,
        reason_text=reason_text,
        history_title="",
        note=note,
        requested_by=actor.operator,
        source=actor.source,
        created_at=timezone.now(),
    )
    actor.audit(
        action="approval.requested",
        target=approval,
        summary=f"Asked to {approval.what.lower()}: {source.display_name}, {points:+,}",
        details={"account": str(source.pk), "target": str(target.pk), "points": points},
    )
    return approval


def apply_approved(
    *, request: ApprovalRequest, source: LoyaltyAccount, target: LoyaltyAccount, actor: Actor
) -> LoyaltyEvent:
    """Make a held merge or transfer now (both accounts locked, `actor` the approving
    manager), judged against the accounts as they are now; the receiving event."""
    requester = Actor(source=request.source, operator=request.requested_by)
    if request.kind == ApprovalRequest.Kind.MERGE:
        preview = preview_merge(source=source, target=target, actor=actor, note=request.note)
        if preview.problems:
            raise preview.problems[0]
        return post_merge(source=source, target=target, actor=requester, note=request.note)[1]
    preview = preview_transfer(
        source=source,
        target=target,
        points=request.points,
        reason=request.reason_text,
        actor=actor,
        note=request.note,
    )
    if preview.problems:
        raise preview.problems[0]
    return post_transfer(
        source=source,
        target=target,
        points=request.points,
        reason_text=request.reason_text,
        note=request.note,
        actor=requester,
    )[1]


@dataclass(frozen=True)
class MovingLot:
    points: int
    expires_at: datetime | None


@dataclass(frozen=True)
class OperationPreview(Verdict):
    """What a merge or transfer would do now: both accounts before and after, the lots that
    move, and the verdict (refuse with the problems, hold for a manager, or apply)."""

    source: LoyaltyAccount
    target: LoyaltyAccount
    points: int  # the balance that moves (a merge may move a negative one)
    earned: int  # the points earned that move (merges only)
    lots: tuple[MovingLot, ...]
    problems: tuple[LedgerError, ...]
    needs_approval: bool
    approval_threshold: int | None = None
    limit_note: str = ""

    @property
    def source_balance_after(self) -> int:
        return self.source.balance - self.points

    @property
    def source_lifetime_after(self) -> int:
        return self.source.lifetime_points - self.earned

    @property
    def target_balance_after(self) -> int:
        return self.target.balance + self.points

    @property
    def target_lifetime_after(self) -> int:
        return self.target.lifetime_points + self.earned


@dataclass(frozen=True)
class Operation:
    """What a merge or transfer did: the two events, or the request held for a manager."""

    out_event: LoyaltyEvent | None = None
    in_event: LoyaltyEvent | None = None
    approval: ApprovalRequest | None = None

    @classmethod
    def of(cls, made: LoyaltyEvent | ApprovalRequest) -> "Operation":
        """From what an idempotency key remembers (the receiving event, or the request)."""
        if isinstance(made, ApprovalRequest):
            return cls(approval=made)
        return cls(out_event=made.counterpart, in_event=made)

    @property
    def held(self) -> bool:
        return self.approval is not None

    @property
    def made(self) -> LoyaltyEvent | ApprovalRequest:
        return self.approval if self.approval is not None else self.in_event


def _pair_problems(source: LoyaltyAccount, target: LoyaltyAccount) -> list[LedgerError]:
    if source.pk == target.pk:
        return [SameAccount()]
    if source.program_id != target.program_id:
        return [ProgramMismatch()]
    if target.is_closed:
        return [
            AccountClosed(
                f"{target.display_name} was merged into {target.merged_into.display_name}; "
                "choose that account instead.",
                field="target",
            )
        ]
    return []


def _lots(account: LoyaltyAccount, points: int | None = None) -> tuple[MovingLot, ...]:
    """The open lots that move: all of them, or the soonest-expiring ones up to `points`."""
    moving, left = [], points
    for lot in open_lots(account):
        take = lot.remaining if left is None else min(lot.remaining, left)
        if take <= 0:
            break
        moving.append(MovingLot(take, lot.expires_at))
        if left is not None:
            left -= take
    return tuple(moving)


def _verdict(actor: Actor, source: LoyaltyAccount, moving: int) -> tuple[bool, int | None, str]:
    """(held?, threshold, the daily limit's note) for moving `moving` points by `actor`."""
    threshold = actor.approval_threshold(source.program)
    note = over_daily_limit(actor=actor, program=source.program, granting=moving)
    return (threshold is not None and abs(moving) > threshold) or bool(note), threshold, note


def preview_merge(
    *, source: LoyaltyAccount, target: LoyaltyAccount, actor: Actor, note: str = ""
) -> OperationPreview:
    """What `merge_accounts` with the same arguments would do now. Writes nothing."""
    problems = _pair_problems(source, target) + closed_problems(source)
    problems += text_problems(note=note)
    held, threshold, limit_note = _verdict(actor, source, source.balance)
    return OperationPreview(
        source=source,
        target=target,
        points=source.balance,
        earned=source.lifetime_points,
        lots=_lots(source),
        problems=tuple(problems),
        needs_approval=held,
        approval_threshold=threshold,
        limit_note=limit_note,
    )


@idempotent("merge", result=Operation.of)
def merge_accounts(
    *,
    source: LoyaltyAccount,
    target: LoyaltyAccount,
    actor: Actor,
    note: str = "",
    idempotency_key: str | None = None,
) -> Operation:
    """Merge the duplicate `source` into `target` (one customer's two accounts), or hold the
    merge for a manager; refuses with the first problem `preview_merge` reports."""
    source, target = lock_both(source, target)
    lock_agent(actor, source.program, source.balance)
    preview = preview_merge(source=source, target=target, actor=actor, note=note)
    if preview.problems:
        raise preview.problems[0]
    if preview.needs_approval:
        return Operation(
            approval=_hold(
                kind=ApprovalRequest.Kind.MERGE,
                source=source,
                target=target,
                points=source.balance,
                reason_text="Duplicate account merged",
                note=note,
                actor=actor,
            )
        )
    out, into = post_merge(source=source, target=target, actor=actor, note=note)
    return Operation(out_event=out, in_event=into)


def preview_transfer(
    *,
    source: LoyaltyAccount,
    target: LoyaltyAccount,
    points: object,
    reason: str,
    actor: Actor,
    note: str = "",
    allow_negative: bool = False,
) -> OperationPreview:
    """What `transfer_points` with the same arguments would do now. Writes nothing."""
    problems = _pair_problems(source, target)
    amount = points if not amount_problems(points) else 0
    if isinstance(amount, int) and amount < 0:
        problems.append(InvalidAmount("Transfer a positive number of points."))
        amount = 0
    # The giving side is judged as the debit it is: overdraft, override, texts, closed.
    debit = check_adjustment(
        account=source,
        points=-amount if amount else points,
        reason=None,
        affects_lifetime=False,
        actor=actor,
        note=note,
        reason_text=reason,
        allow_negative=allow_negative,
    )
    problems += debit.problems
    if not reason.strip():
        problems.append(ReasonRequired())
    held, threshold, limit_note = _verdict(actor, source, amount)
    return OperationPreview(
        source=source,
        target=target,
        points=amount,
        earned=0,
        lots=_lots(source, amount) if amount else (),
        problems=tuple(problems),
        needs_approval=held,
        approval_threshold=threshold,
        limit_note=limit_note,
    )


@idempotent("transfer", result=Operation.of)
def transfer_points(
    *,
    source: LoyaltyAccount,
    target: LoyaltyAccount,
    points: int,
    reason: str,
    actor: Actor,
    note: str = "",
    allow_negative: bool = False,
    idempotency_key: str | None = None,
) -> Operation:
    """Move `points` from `source` to `target`, for a reason, or hold the transfer for a
    manager; refuses with the first problem `preview_transfer` reports."""
    source, target = lock_both(source, target)
    lock_agent(actor, source.program, points)
    preview = preview_transfer(
        source=source,
        target=target,
        points=points,
        reason=reason,
        actor=actor,
        note=note,
        allow_negative=allow_negative,
    )
    if preview.problems:
        raise preview.problems[0]
    if preview.needs_approval:
        return Operation(
            approval=_hold(
                kind=ApprovalRequest.Kind.TRANSFER,
                source=source,
                target=target,
                points=points,
                reason_text=reason.strip(),
                note=note,
                actor=actor,
            )
        )
    out, into = post_transfer(
        source=source,
        target=target,
        points=points,
        reason_text=reason.strip(),
        note=note,
        actor=actor,
    )
    return Operation(out_event=out, in_event=into)
