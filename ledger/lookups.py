"""Finding what a request names: the one place every face looks things up.

Each look-up normalises its input the same way everywhere (reason codes case-insensitively,
emails lowercased, phones to E.164, ids as UUIDs) and refuses with a `NotFound` refusal that
each face turns into its own 404 (or `UnknownReason`, a 400 about the `reason` field).

Scoping: the console and the Yotpo dialect work inside one program and pass it; the native
API and the Square dialect address accounts and events by id across programs (an API key is
not bound to a program) and pass none.
"""

import copy
import uuid

from django.db.models import QuerySet

from accounts.identities import Identity
from accounts.models import LoyaltyAccount, Program
from loyalty_admin.remembered import Remembered

from .exceptions import (
    AccountNotFound,
    ApprovalRequestNotFound,
    BatchNotFound,
    EventNotFound,
    NotificationNotFound,
    ProgramNotFound,
    RewardNotFound,
    RewardTierNotFound,
    SubscriptionNotFound,
    UnknownReason,
)
from .models import (
    ApprovalRequest,
    BulkBatch,
    LoyaltyEvent,
    Reason,
    Reward,
    RewardTier,
    WebhookSubscription,
)


def _uuid(value: object) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def program(id_or_alias: str) -> Program:
    """The program named by its id or alias (`main`: the default program)."""
    try:
        return Program.objects.resolve(str(id_or_alias).strip())
    except (ValueError, Program.DoesNotExist):
        raise ProgramNotFound() from None


def _by_id(queryset: QuerySet, object_id: object, program: Program | None, missing: Exception):
    """The one row of `queryset` with this id (in `program`, when given), or `missing`."""
    pk = _uuid(object_id)
    if program is not None:
        queryset = queryset.filter(program=program)
    found = queryset.filter(pk=pk).first() if pk else None
    if found is None:
        raise missing
    return found


def account(account_id: object, *, program: Program | None = None) -> LoyaltyAccount:
    """The account with this id (in `program`, when given), with its program."""
    accounts = LoyaltyAccount.objects.select_related("program")
    return _by_id(accounts, account_id, program, AccountNotFound("No loyalty account has this id."))


def account_to_lock(account_id: object) -> LoyaltyAccount:
    """The account with this id, for a command that reads it once, under its row lock: no
    query here. A malformed id is AccountNotFound at once, an unknown one when the command
    locks it (`ledger.services.posting.lock`)."""
    pk = _uuid(account_id)
    if pk is None:
        raise AccountNotFound("No loyalty account has this id.")
    return LoyaltyAccount(pk=pk)


def account_by_identity(
    *,
    program: Program,
    customer_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    pos_account_id: str | None = None,
) -> LoyaltyAccount:
    """The program's account with this customer id, else email, else phone, else
    point-of-sale id (normalised); for an account merged into another, the surviving account,
    which holds its points now.

    InvalidIdentity when none is given or the phone is not a number; AccountNotFound when
    no account has it."""
    identity = Identity.of(
        customer_id=customer_id,
        email=email,
        phone=phone,
        pos_account_id=pos_account_id,
    )
    found = (
        LoyaltyAccount.objects.select_related("program", "merged_into__program")
        .filter(program=program, **identity.lookup())
        .first()
    )
    if found is None:
        raise AccountNotFound("No customer matches.")
    return found.surviving()


def reasons_by_code(program: Program) -> dict[str, Reason]:
    """Every reason of the program, active or not, by code (for a file of many rows)."""
    return {r.code: r for r in Reason.objects.filter(program=program)}


def unknown_reason(code: str) -> UnknownReason:
    return UnknownReason(f"No reason has the code “{code.strip()}”.")


# Every adjustment names a reason, and reasons change rarely: each process keeps a program's
# reasons for at most REASON_CACHE_SECONDS (settings; 5 by default). The reason services forget
# a program's reasons when they change one (on commit), so the change is seen at once by the
# process that made it and within the bound by every other one.
_reasons: Remembered[dict[str, Reason]] = Remembered("REASON_CACHE_SECONDS", 5.0)


def _program_reasons(program_id: object) -> dict[str, Reason]:
    return _reasons.get(
        program_id, lambda: {r.code: r for r in Reason.objects.filter(program_id=program_id)}
    )


def forget_reasons(program_id: object = None) -> None:
    """Drop the cached reasons of one program (every program when None)."""
    _reasons.forget(program_id)


def reason(program: Program, code: str) -> Reason:
    """The program's reason with this code, active or not: an inactive one is refused by the
    service with its own message, so that a reason retired since a page loaded says so."""
    found = _program_reasons(program.pk).get(Reason.normalize_code(code))
    if found is None:
        raise unknown_reason(code)
    return copy.copy(found)  # the caller may change its copy; the cached one stays as read


def event(event_id: object, *, program: Program | None = None) -> LoyaltyEvent:
    """The event with this id (in `program`, when given), with what its page shows."""
    events = LoyaltyEvent.objects.select_related(
        "account__program", "reason", "actor", "api_client", "reverses", "reversed_by"
    )
    return _by_id(events, event_id, program, EventNotFound())


def approval_request(request_id: object, *, program: Program | None = None) -> ApprovalRequest:
    requests = ApprovalRequest.objects.select_related(
        "account__program", "reason", "requested_by", "decided_by", "event"
    )
    return _by_id(requests, request_id, program, ApprovalRequestNotFound())


def batch(batch_id: object, *, program: Program) -> BulkBatch:
    batches = BulkBatch.objects.select_related("uploaded_by")
    return _by_id(batches, batch_id, program, BatchNotFound())


def reward_tier(tier_id: object, *, program: Program | None = None) -> RewardTier:
    """The reward tier with this id (in `program`, when given), retired or not: issuing from
    a retired tier is refused by the service with its own message."""
    return _by_id(RewardTier.objects.all(), tier_id, program, RewardTierNotFound())


def reward(reward_id: object, *, program: Program | None = None) -> Reward:
    """The reward with this id (in `program`, when given), with its tier and account."""
    rewards = Reward.objects.select_related("tier", "account__program")
    return _by_id(rewards, reward_id, program, RewardNotFound())


# --- Webhooks --------------------------------------------------------------------------------


def subscription(subscription_id: str) -> WebhookSubscription:
    found = WebhookSubscription.objects.filter(pk=subscription_id).first()
    if found is None:
        raise SubscriptionNotFound()
    return found


def notification(notification_id: object, *, subscription: WebhookSubscription):
    """One notification of the subscription's delivery log."""
    try:
        found = subscription.notifications.filter(pk=int(str(notification_id))).first()
    except ValueError:
        found = None
    if found is None:
        raise NotificationNotFound()
    return found
