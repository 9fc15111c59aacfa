"""Every rule of an adjustment, in one place.

`check_adjustment` judges an adjustment against the account as it is and says what would
happen: refuse (with every problem), hold for a manager's approval, or apply. The preview,
the commands, approvals, reversals and the bulk file's dry run all ask it (the bulk file its
two halves: `fixed_problems` once per distinct row, `balance_problems` on every row), so none
of them can disagree with another.
"""

from dataclasses import dataclass

from accounts.models import LoyaltyAccount

from ..exceptions import (
    AccountClosed,
    AdjustmentRefused,
    InactiveReason,
    InsufficientPoints,
    InvalidAmount,
    NoteRequired,
    OverrideNotAllowed,
    ReasonSignMismatch,
    TextTooLong,
)
from ..models import Reason
from .actors import Actor
from .limits import over_daily_limit

# One adjustment moves at most this many points (Yotpo's int32 limit).
MAX_POINTS = 2_147_483_647
# The longest texts an event keeps. Square documents its free-text `reason` up to 3,500
# characters; a title is what a customer sees in a list.
TEXT_LIMITS = {"history_title": 200, "note": 2_000, "reason_text": 3_500}
_TEXT_NAMES = {"history_title": "The title", "note": "The note", "reason_text": "The reason"}


class Verdict:
    """Apply, hold for a manager, or refuse: what a preview's `problems` and `needs_approval`
    come to (adjustments, transfers and merges alike)."""

    problems: tuple[AdjustmentRefused, ...]
    needs_approval: bool

    @property
    def allowed(self) -> bool:
        return not self.problems

    @property
    def verdict(self) -> str:
        """ "refuse", "hold" (for a manager's approval) or "apply"."""
        if self.problems:
            return "refuse"
        return "hold" if self.needs_approval else "apply"


@dataclass(frozen=True)
class AdjustmentPreview(Verdict):
    """What an adjustment would do now: the sums before and after, and the verdict."""

    balance_before: int
    balance_after: int
    lifetime_before: int
    lifetime_after: int
    problems: tuple[AdjustmentRefused, ...]
    needs_approval: bool
    approval_threshold: int | None = None
    # Why an agent's grant waits for a manager although it is under the threshold: it takes
    # them past their daily limit (said in words, before they submit).
    limit_note: str = ""


def lifetime_effect(points: object, reason: Reason | None, affects_lifetime: bool | None) -> bool:
    """Explicit choice first, then the reason's rule, then Square's: only earning counts."""
    if affects_lifetime is not None:
        return affects_lifetime
    if reason is not None:
        return reason.affects_lifetime
    return isinstance(points, int) and not isinstance(points, bool) and points > 0


def amount_problems(points: object) -> list[AdjustmentRefused]:
    if isinstance(points, bool) or not isinstance(points, int):
        return [InvalidAmount("The number of points must be a whole number.")]
    if points == 0:
        return [InvalidAmount("Enter a number of points other than zero.")]
    if abs(points) > MAX_POINTS:
        return [InvalidAmount(f"One adjustment can move at most {MAX_POINTS:,} points.")]
    return []


def closed_problems(account: LoyaltyAccount) -> list[AdjustmentRefused]:
    if not account.is_closed:
        return []
    return [
        AccountClosed(
            f"This account was merged into {account.merged_into.display_name}; "
            "its points are there now."
        )
    ]


def text_problems(**texts: str) -> list[AdjustmentRefused]:
    return [
        TextTooLong(
            f"{_TEXT_NAMES[name]} can be at most {TEXT_LIMITS[name]:,} characters "
            f"(this one has {len(value):,}).",
            field=name,
        )
        for name, value in texts.items()
        if len(value) > TEXT_LIMITS[name]
    ]


def fixed_problems(
    *,
    account: LoyaltyAccount,
    points: object,
    reason: Reason | None,
    actor: Actor,
    note: str = "",
    history_title: str = "",
    reason_text: str = "",
    allow_negative: bool = False,
) -> list[AdjustmentRefused]:
    """The problems of an adjustment that do not depend on the account's balance: the same
    for every account of a program that is open (or merged into the same one)."""
    problems = closed_problems(account)
    problems += amount_problems(points)
    amount = 0 if problems else points
    if reason is not None:
        if reason.program_id != account.program_id or not reason.active:
            problems.append(InactiveReason(f"The reason “{reason.label}” is not in use."))
        if amount and (amount > 0) != (reason.sign > 0):
            direction = "adds" if reason.sign > 0 else "removes"
            unit = account.program.terminology_other.lower()
            problems.append(ReasonSignMismatch(f"“{reason.label}” {direction} {unit}."))
        if reason.requires_note and not note.strip():
            problems.append(NoteRequired(f"A note is required for “{reason.label}”."))
    problems += text_problems(history_title=history_title, note=note, reason_text=reason_text)
    if allow_negative and not actor.may_override_balance:
        problems.append(OverrideNotAllowed())
    return problems


def balance_problems(
    *,
    balance: int,
    lifetime_points: int,
    amount: int,
    affects_lifetime: bool,
    unit: str,
    may_overdraw: bool,
) -> list[AdjustmentRefused]:
    """Whether moving `amount` leaves the balance and the points earned at zero or above
    (`unit`: the program's word for points, lowercase)."""
    if amount >= 0 or may_overdraw:
        return []
    balance_after = balance + amount
    lifetime_after = lifetime_points + (amount if affects_lifetime else 0)
    if balance_after < 0:
        return [
            InsufficientPoints(
                f"The customer has {balance:,} {unit}; removing {-amount:,} "
                f"would leave {balance_after:,}."
            )
        ]
    if lifetime_after < 0:
        return [
            InsufficientPoints(
                f"The customer has earned {lifetime_points:,} {unit}; removing "
                f"{-amount:,} earned {unit} would leave {lifetime_after:,}."
            )
        ]
    return []


def check_adjustment(
    *,
    account: LoyaltyAccount,
    points: object,
    reason: Reason | None,
    affects_lifetime: bool,
    actor: Actor,
    note: str = "",
    history_title: str = "",
    reason_text: str = "",
    allow_negative: bool = False,
) -> AdjustmentPreview:
    """Judge the adjustment of `account` (locked, for a command) by `actor`. Writes nothing."""
    problems = fixed_problems(
        account=account,
        points=points,
        reason=reason,
        actor=actor,
        note=note,
        history_title=history_title,
        reason_text=reason_text,
        allow_negative=allow_negative,
    )
    # A closed account or a bad amount moves nothing: no balance to judge.
    amount = 0 if account.is_closed or amount_problems(points) else points
    problems += balance_problems(
        balance=account.balance,
        lifetime_points=account.lifetime_points,
        amount=amount,
        affects_lifetime=affects_lifetime,
        unit=account.program.terminology_other.lower(),
        may_overdraw=allow_negative and actor.may_override_balance,
    )
    threshold = actor.approval_threshold(account.program)
    limit_note = over_daily_limit(actor=actor, program=account.program, granting=amount)
    return AdjustmentPreview(
        balance_before=account.balance,
        balance_after=account.balance + amount,
        lifetime_before=account.lifetime_points,
        lifetime_after=account.lifetime_points + (amount if affects_lifetime else 0),
        problems=tuple(problems),
        needs_approval=(threshold is not None and abs(amount) > threshold) or bool(limit_note),
        approval_threshold=threshold,
        limit_note=limit_note,
    )
