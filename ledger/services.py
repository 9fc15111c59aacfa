"""Every action that changes a balance. Nothing else writes an event or a balance.

Each function is keyword-only and one transaction: it locks the account row, takes the time
once, checks the action with the same code the preview uses, appends the event and updates the
account's cached balance and points earned.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import LoyaltyAccount
from loyalty_admin.models import ApiClient
from loyalty_admin.roles import is_manager

from .exceptions import (
    AdjustmentRefused,
    AlreadyReversed,
    ApprovalRequired,
    DuplicateOrder,
    IdempotencyConflict,
    InactiveReason,
    InsufficientPoints,
    InvalidAmount,
    NoteRequired,
    NotReversible,
    ReasonSignMismatch,
)
from .models import IdempotencyRecord, LoyaltyEvent, Reason

# One adjustment moves at most this many points (Yotpo's int32 limit).
MAX_POINTS = 2_147_483_647

Source = LoyaltyEvent.Source


@dataclass(frozen=True)
class AdjustmentPreview:
    balance_before: int
    balance_after: int
    lifetime_before: int
    lifetime_after: int
    problems: tuple[AdjustmentRefused, ...]
    needs_approval: bool

    @property
    def allowed(self) -> bool:
        return not self.problems


# --- Checks shared by the preview and the actions ------------------------------------------


def _check_amount(points: int) -> list[AdjustmentRefused]:
    if isinstance(points, bool) or not isinstance(points, int):
        return [InvalidAmount("The number of points must be a whole number.")]
    if points == 0:
        return [InvalidAmount("Enter a number of points other than zero.")]
    if abs(points) > MAX_POINTS:
        return [InvalidAmount(f"One adjustment can move at most {MAX_POINTS:,} points.")]
    return []


def _evaluate(
    *,
    account: LoyaltyAccount,
    points: int,
    reason: Reason | None,
    affects_lifetime: bool,
    note: str,
    allow_negative: bool,
    actor: AbstractBaseUser | None,
) -> AdjustmentPreview:
    problems = _check_amount(points)
    if problems:
        points = 0
    unit = account.program.terminology_other.lower()
    if reason is not None:
        if reason.program_id != account.program_id or not reason.active:
            problems.append(InactiveReason(f"The reason “{reason.label}” is not in use."))
        if points and (points > 0) != (reason.sign > 0):
            direction = "adds" if reason.sign > 0 else "removes"
            problems.append(ReasonSignMismatch(f"“{reason.label}” {direction} {unit}."))
        if reason.requires_note and not note.strip():
            problems.append(NoteRequired(f"A note is required for “{reason.label}”."))

    balance_after = account.balance + points
    lifetime_after = account.lifetime_points + (points if affects_lifetime else 0)
    if points < 0 and not allow_negative:
        if balance_after < 0:
            problems.append(
                InsufficientPoints(
                    f"The customer has {account.balance:,} {unit}; removing {-points:,} "
                    f"would leave {balance_after:,}."
                )
            )
        elif lifetime_after < 0:
            problems.append(
                InsufficientPoints(
                    f"The customer has earned {account.lifetime_points:,} {unit}; removing "
                    f"{-points:,} earned {unit} would leave {lifetime_after:,}."
                )
            )

    threshold = account.program.approval_threshold
    needs_approval = (
        threshold is not None
        and actor is not None
        and abs(points) > threshold
        and not is_manager(actor)
    )
    return AdjustmentPreview(
        balance_before=account.balance,
        balance_after=balance_after,
        lifetime_before=account.lifetime_points,
        lifetime_after=lifetime_after,
        problems=tuple(problems),
        needs_approval=needs_approval,
    )


def _lifetime_effect(points: int, reason: Reason | None, affects_lifetime: bool | None) -> bool:
    """Explicit choice first, then the reason's rule, then Square's: only earning counts."""
    if affects_lifetime is not None:
        return affects_lifetime
    if reason is not None:
        return reason.affects_lifetime
    return isinstance(points, int) and points > 0


def preview_adjustment(
    *,
    account: LoyaltyAccount,
    points: int,
    reason: Reason | None = None,
    affects_lifetime: bool | None = None,
    note: str = "",
    allow_negative: bool = False,
    actor: AbstractBaseUser | None = None,
) -> AdjustmentPreview:
    """What `adjust_points` with the same arguments would do now. Writes nothing."""
    return _evaluate(
        account=account,
        points=points,
        reason=reason,
        affects_lifetime=_lifetime_effect(points, reason, affects_lifetime),
        note=note,
        allow_negative=allow_negative,
        actor=actor,
    )


# --- Building blocks ------------------------------------------------------------------------


def _lock(account: LoyaltyAccount) -> LoyaltyAccount:
    """The account row, locked until the transaction ends (a no-op lock on SQLite, whose
    IMMEDIATE transactions already hold the database's write lock)."""
    return LoyaltyAccount.objects.select_for_update().select_related("program").get(pk=account.pk)


def _event_time(account: LoyaltyAccount) -> datetime:
    # Strictly after the account's previous event even if clocks step back between servers,
    # so that (created_at, id) is the true order of an account's events.
    now = timezone.now()
    if now <= account.updated_at:
        now = account.updated_at + timedelta(microseconds=1)
    return now


def _fingerprint(action: str, **request: object) -> str:
    canonical = json.dumps({"action": action, **request}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _idempotency_scope(
    source: str, actor: AbstractBaseUser | None, api_client: ApiClient | None
) -> str:
    if api_client is not None:
        # The prefix, not the pk: an ApiClient's pk embeds the key's hash (~145 characters),
        # too long for the scope column (PostgreSQL enforces its 100; SQLite does not).
        return f"{source}:client:{api_client.prefix}"
    if actor is not None:
        return f"{source}:operator:{actor.pk}"
    return f"{source}:system"


def _claim_idempotency_key(
    *, scope: str, key: str, fingerprint: str
) -> tuple[IdempotencyRecord, LoyaltyEvent | None]:
    """Reserve `key` for this request, or return the event its first use produced.

    Called with the account locked, so a concurrent retry of the same request waits here and
    then sees the first one's record. A racing use of the key for another account fails on the
    unique constraint instead, and is told apart by the fingerprint.
    """
    if len(key) > IdempotencyRecord._meta.get_field("key").max_length:
        raise IdempotencyConflict("The idempotency key is longer than 191 characters.")
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(scope=scope, key=key, fingerprint=fingerprint)
        return record, None
    except IntegrityError:
        record = IdempotencyRecord.objects.select_related("event").get(scope=scope, key=key)
    if record.fingerprint != fingerprint:
        raise IdempotencyConflict()
    return record, record.event


def _append(
    account: LoyaltyAccount, *, points: int, affects_lifetime: bool, **fields: object
) -> LoyaltyEvent:
    now = _event_time(account)
    account.balance += points
    if affects_lifetime:
        account.lifetime_points += points
    account.updated_at = now
    event = LoyaltyEvent.objects.create(
        program_id=account.program_id,
        account=account,
        points=points,
        affects_lifetime=affects_lifetime,
        balance_after=account.balance,
        lifetime_after=account.lifetime_points,
        created_at=now,
        **fields,
    )
    account.save(update_fields=["balance", "lifetime_points", "updated_at"])
    return event


# --- Actions --------------------------------------------------------------------------------


@transaction.atomic
def adjust_points(
    *,
    account: LoyaltyAccount,
    points: int,
    source: str,
    reason: Reason | None = None,
    reason_text: str = "",
    affects_lifetime: bool | None = None,
    history_title: str = "",
    note: str = "",
    visible_to_customer: bool = True,
    allow_negative: bool = False,
    location_id: str = "",
    actor: AbstractBaseUser | None = None,
    api_client: ApiClient | None = None,
    idempotency_key: str | None = None,
) -> LoyaltyEvent:
    """Add (points > 0) or remove (points < 0) points, for a reason.

    Refuses with the first problem `preview_adjustment` would report, or `ApprovalRequired`
    when an agent's adjustment is above the program's approval threshold. With an
    idempotency key, a retry of the same request returns the first event.
    """
    account = _lock(account)
    lifetime = _lifetime_effect(points, reason, affects_lifetime)
    record = None
    if idempotency_key:
        record, first = _claim_idempotency_key(
            scope=_idempotency_scope(source, actor, api_client),
            key=idempotency_key,
            fingerprint=_fingerprint(
                "adjust",
                account=account.pk,
                points=points,
                reason=reason.pk if reason else None,
                reason_text=reason_text,
                affects_lifetime=lifetime,
                history_title=history_title,
                note=note,
                visible_to_customer=visible_to_customer,
                allow_negative=allow_negative,
                location_id=location_id,
            ),
        )
        if first is not None:
            return first

    preview = _evaluate(
        account=account,
        points=points,
        reason=reason,
        affects_lifetime=lifetime,
        note=note,
        allow_negative=allow_negative,
        actor=actor,
    )
    if preview.problems:
        raise preview.problems[0]
    if preview.needs_approval:
        raise ApprovalRequired(
            f"Adjustments above {account.program.approval_threshold:,} "
            f"{account.program.terminology_other.lower()} need a manager's approval."
        )

    event = _append(
        account,
        points=points,
        affects_lifetime=lifetime,
        type=LoyaltyEvent.Type.ADJUST_POINTS,
        reason=reason,
        reason_text=reason_text or (reason.label if reason else ""),
        history_title=history_title or (reason.label if reason else reason_text),
        note=note,
        visible_to_customer=visible_to_customer,
        source=source,
        actor=actor,
        api_client=api_client,
        location_id=location_id,
    )
    if record is not None:
        record.event = event
        record.save(update_fields=["event"])
    return event


@transaction.atomic
def accumulate_points(
    *,
    account: LoyaltyAccount,
    points: int,
    source: str,
    order_id: str | None = None,
    location_id: str = "",
    history_title: str = "",
    actor: AbstractBaseUser | None = None,
    api_client: ApiClient | None = None,
    idempotency_key: str | None = None,
) -> LoyaltyEvent:
    """Credit points earned by a purchase (counts towards points earned)."""
    account = _lock(account)
    record = None
    if idempotency_key:
        record, first = _claim_idempotency_key(
            scope=_idempotency_scope(source, actor, api_client),
            key=idempotency_key,
            fingerprint=_fingerprint(
                "accumulate",
                account=account.pk,
                points=points,
                order_id=order_id,
                location_id=location_id,
                history_title=history_title,
            ),
        )
        if first is not None:
            return first

    problems = _check_amount(points)
    if not problems and points < 0:
        problems = [InvalidAmount("Accumulated points must be positive.")]
    if problems:
        raise problems[0]
    if (
        order_id
        and LoyaltyEvent.objects.filter(
            account=account, order_id=order_id, type=LoyaltyEvent.Type.ACCUMULATE_POINTS
        ).exists()
    ):
        raise DuplicateOrder()

    event = _append(
        account,
        points=points,
        affects_lifetime=True,
        type=LoyaltyEvent.Type.ACCUMULATE_POINTS,
        history_title=history_title or "Points earned",
        source=source,
        actor=actor,
        api_client=api_client,
        order_id=order_id or None,
        location_id=location_id,
    )
    if record is not None:
        record.event = event
        record.save(update_fields=["event"])
    return event


@transaction.atomic
def reverse_event(
    *,
    event: LoyaltyEvent,
    note: str,
    source: str,
    allow_negative: bool = False,
    actor: AbstractBaseUser | None = None,
    api_client: ApiClient | None = None,
    idempotency_key: str | None = None,
) -> LoyaltyEvent:
    """Undo `event` with a REVERSAL event of the opposite points. An event is reversed once."""
    account = _lock(event.account)
    record = None
    if idempotency_key:
        record, first = _claim_idempotency_key(
            scope=_idempotency_scope(source, actor, api_client),
            key=idempotency_key,
            fingerprint=_fingerprint(
                "reverse", event=event.pk, note=note, allow_negative=allow_negative
            ),
        )
        if first is not None:
            return first

    if event.type == LoyaltyEvent.Type.REVERSAL:
        raise NotReversible("A reversal cannot itself be reversed; make a new adjustment.")
    if LoyaltyEvent.objects.filter(reverses=event).exists():
        raise AlreadyReversed()
    if not note.strip():
        raise NoteRequired("Say why this event is reversed.")
    preview = _evaluate(
        account=account,
        points=-event.points,
        reason=None,
        affects_lifetime=event.affects_lifetime,
        note=note,
        allow_negative=allow_negative,
        actor=None,
    )
    if preview.problems:
        raise preview.problems[0]

    reversal = _append(
        account,
        points=-event.points,
        affects_lifetime=event.affects_lifetime,
        type=LoyaltyEvent.Type.REVERSAL,
        reason=event.reason,
        reason_text=event.reason_text,
        history_title=f"Reversal: {event.history_title}" if event.history_title else "Reversal",
        note=note,
        visible_to_customer=event.visible_to_customer,
        source=source,
        actor=actor,
        api_client=api_client,
        location_id=event.location_id,
        reverses=event,
    )
    if record is not None:
        record.event = reversal
        record.save(update_fields=["event"])
    return reversal
