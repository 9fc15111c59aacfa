"""Posting an event: the one way a balance changes.

Under the account's row lock, take the time once, append the event with the balance and
points earned it leaves, update the account's cached sums and the lots, and write the
webhook notifications (the outbox), all in the caller's transaction.
"""

from datetime import datetime, timedelta

from django.db import OperationalError
from django.utils import timezone

from accounts.models import LoyaltyAccount
from loyalty_admin import metrics, request_log

from ..exceptions import AccountLocked, AccountNotFound
from ..models import LoyaltyEvent
from . import statements
from .actors import Actor
from .lots import update_lots
from .webhooks import notify_events

# PostgreSQL's SQLSTATE for a lock wait that ran out of `lock_timeout` (settings).
LOCK_NOT_AVAILABLE = "55P03"


def lock(account: LoyaltyAccount) -> LoyaltyAccount:
    """The account row with its program, read and locked until the transaction ends (a no-op
    lock on SQLite, whose IMMEDIATE transactions already hold the database's write lock).
    Only `account.pk` is used: a face may pass `lookups.account_to_lock(id)`, unread.

    AccountLocked when another transaction holds it longer than the database's lock_timeout:
    the caller gets a refusal it can retry rather than a queue that grows without bound."""
    # FOR UPDATE OF the account only (statements.lock_account): a plain FOR UPDATE would lock
    # the joined program row too, so that every account lock would also take one lock shared
    # by all accounts, and two lock orders could meet there (a deadlock between a merge and an
    # adjustment).
    try:
        locked = statements.lock_account(account.pk)
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise AccountLocked() from exc
        raise
    if locked is None:
        raise AccountNotFound("No loyalty account has this id.")
    return locked


def event_time(account: LoyaltyAccount, *, now: datetime | None = None) -> datetime:
    """The time of the account's next event: `now` (the clock's, when not given), but strictly
    after the account's previous event even if clocks step back between servers, so that
    (created_at, id) is the true order of an account's events."""
    now = now or timezone.now()
    if now <= account.updated_at:
        now = account.updated_at + timedelta(microseconds=1)
    return now


def lock_both(first: LoyaltyAccount, second: LoyaltyAccount) -> tuple[LoyaltyAccount, ...]:
    """Both account rows, locked in one fixed order (by id) whichever is named first, so that
    two operations on the same pair in opposite directions wait for each other instead of
    deadlocking. Returned in the order given."""
    locked = {a.pk: lock(a) for a in sorted((first, second), key=lambda a: str(a.pk))}
    return locked[first.pk], locked[second.pk]


def advance(
    account: LoyaltyAccount,
    *,
    points: int,
    affects_lifetime: bool,
    now: datetime,
    earned_moved: int = 0,
) -> int:
    """Move the account's cached sums (in memory) by one event at `now`; the balance before."""
    balance_before = account.balance
    account.balance += points
    if affects_lifetime:
        account.lifetime_points += points
    account.lifetime_points += earned_moved
    account.updated_at = now
    return balance_before


def append(
    account: LoyaltyAccount,
    *,
    points: int,
    affects_lifetime: bool,
    actor: Actor,
    earned_moved: int = 0,
    **fields: object,
) -> LoyaltyEvent:
    """Append one event to the locked `account` and move its balance (and points earned)."""
    now = event_time(account)
    balance_before = advance(
        account,
        points=points,
        affects_lifetime=affects_lifetime,
        now=now,
        earned_moved=earned_moved,
    )
    event = LoyaltyEvent(
        program_id=account.program_id,
        account=account,
        points=points,
        affects_lifetime=affects_lifetime,
        balance_after=account.balance,
        lifetime_after=account.lifetime_points,
        created_at=now,
        request_id=request_log.current_request_id() or None,
        earned_moved=earned_moved,
        **actor.event_fields,
        **fields,
    )
    statements.insert(event)
    # A new event is reversed by nothing yet: say so, rather than let a reader ask the database.
    LoyaltyEvent.reversed_by.related.set_cached_value(event, None)
    statements.update(account, ("balance", "lifetime_points", "updated_at"))
    update_lots(account, event, balance_before)
    count_posted(event)
    notify_events([event], {account.pk: account})
    return event


def count_posted(event: LoyaltyEvent) -> None:
    """Count committed events in /metrics and name the account in the request's log line.
    Reads only what the caller already loaded: no query."""
    request_log.note(account=str(event.account_id))
    reason = LoyaltyEvent.reason.field.get_cached_value(event, None)
    counter = metrics.ADJUSTMENTS.labels(
        face=event.source, type=event.type, reason=reason.code if reason else ""
    )
    metrics.after_commit(lambda: counter.inc())
