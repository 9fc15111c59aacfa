"""Idempotency keys: a retried request returns the first result; another request under a key
already used is refused.

Every command that takes an `idempotency_key` is wrapped by `idempotent`, the one place that
runs the command and remembers its result under the key, all in the command's transaction.
"""

import functools
import hashlib
import inspect
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.utils import timezone

from accounts.models import LoyaltyAccount

from ..exceptions import (
    IdempotencyConflict,
    InvalidIdempotencyKey,
    Refusal,
    SubscriptionNotFound,
)
from ..models import (
    ApprovalRequest,
    IdempotencyRecord,
    LoyaltyEvent,
    Reason,
    Reward,
    WebhookSubscription,
)
from . import statements

MAX_KEY_LENGTH = IdempotencyRecord._meta.get_field("key").max_length


def fingerprint(action: str, **request: object) -> str:
    """SHA-256 of the request, independent of argument order; model instances by their pk (a
    reason by its code, which names it within the account's program)."""

    def plain(value: object) -> object:
        if isinstance(value, Reason):
            return value.code
        if isinstance(value, models.Model):
            return str(value.pk)
        return str(value)

    canonical = json.dumps({"action": action, **request}, sort_keys=True, default=plain)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> None:
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(
            f"Use an idempotency key of at most {MAX_KEY_LENGTH} characters "
            f"(this one has {len(key):,})."
        )


def _link(made: object) -> dict[str, object]:
    """What a key's record keeps of what its request made, for the replays to return."""
    if isinstance(made, LoyaltyEvent):
        return {"event": made}
    if isinstance(made, ApprovalRequest):
        return {"response": {"approval_request": str(made.pk)}}
    if isinstance(made, Reward):
        return {"response": {"reward": str(made.pk)}}
    if isinstance(made, LoyaltyAccount):
        return {"response": {"loyalty_account_id": str(made.pk)}}
    if isinstance(made, WebhookSubscription):
        return {"response": {"webhook_subscription": made.pk}}
    raise TypeError(f"Cannot remember a {type(made).__name__} under an idempotency key.")


def _recall(record: IdempotencyRecord) -> object:
    if record.event_id is not None:
        return record.event
    response = record.response or {}
    if "approval_request" in response:
        return ApprovalRequest.objects.get(pk=response["approval_request"])
    if "webhook_subscription" in response:
        subscription = WebhookSubscription.objects.filter(pk=response["webhook_subscription"])
        if not subscription.exists():
            raise SubscriptionNotFound("The subscription this key created was deleted since.")
        return subscription.get()
    if "reward" in response:
        return Reward.objects.select_related("tier", "account__program").get(pk=response["reward"])
    return LoyaltyAccount.objects.select_related("program").get(pk=response["loyalty_account_id"])


class _KeyTaken(Exception):
    """The key's record exists (another request committed it): undo this run, replay that."""


def idempotent(
    action: str, *, result: Callable[[Any], Any] | None = None, own_scope: bool = False
) -> Callable:
    """Make a keyword-only command idempotent under its `idempotency_key` argument.

    The key is scoped to the command's `actor` (an API client, an operator, the system; and
    the action itself when `own_scope`), and the request is fingerprinted from every other
    argument. A replay returns what the first request made, passed through `result`; a
    different request under a used key raises IdempotencyConflict.

    The command runs first and its result is remembered with one INSERT in its transaction,
    sent with the command's own writes (`statements.atomic()`: one statement on PostgreSQL).
    When the key is already taken, that INSERT writes nothing (after the other request
    commits, if it is still running): the run is rolled back and the first result returned
    instead. A refused run checks for the key too, so that a retry is answered with the first
    result even if the account has moved on since.
    """

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command)

        def replay(scope: str, key: str, fingerprint: str) -> Any:
            record = IdempotencyRecord.objects.select_related("event").get(scope=scope, key=key)
            if record.fingerprint != fingerprint:
                raise IdempotencyConflict()
            made = _recall(record)
            return result(made) if result else made

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            key = kwargs.get("idempotency_key")
            if not key:
                with statements.atomic():
                    return command(**kwargs)
            check_key(key)
            actor = kwargs["actor"]
            scope = f"{actor.idempotency_scope}:{action}" if own_scope else actor.idempotency_scope
            bound = signature.bind(**kwargs)
            bound.apply_defaults()  # the same request fingerprints alike, however it is spelled
            request = {
                k: v for k, v in bound.arguments.items() if k not in ("actor", "idempotency_key")
            }
            print_ = fingerprint(action, **request)
            try:
                with statements.atomic():
                    outcome = command(**kwargs)
                    made = getattr(outcome, "made", outcome)  # an Adjustment names what it made
                    # Sent with the command's own writes, as one statement on PostgreSQL.
                    statements.insert(
                        IdempotencyRecord(scope=scope, key=key, fingerprint=print_, **_link(made)),
                        if_taken=_KeyTaken,
                    )
                    return outcome
            except _KeyTaken:
                return replay(scope, key, print_)
            except Refusal:
                if not IdempotencyRecord.objects.filter(scope=scope, key=key).exists():
                    raise
                return replay(scope, key, print_)

        return run

    return decorate


def prune_idempotency_records(*, older_than: timedelta, now: datetime | None = None) -> int:
    """Delete the idempotency records made before `now - older_than`; how many.

    Only the keys go: the events they point to stay forever. A client retrying with a key
    older than the window is then treated as a new request, so the window must be longer
    than any client retries (the default, 30 days, is far longer than any does)."""
    if older_than <= timedelta(0):
        raise ValueError("The retention window must be longer than zero.")
    cutoff = (now or timezone.now()) - older_than
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
