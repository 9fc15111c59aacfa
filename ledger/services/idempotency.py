"""Idempotency keys: a retried request returns the first result; another request under a key
already used is refused.

Every command that takes an `idempotency_key` is wrapped by `idempotent`, the one place that
claims the key, runs the command and remembers its result, all in the command's transaction.
"""

import functools
import hashlib
import inspect
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from accounts.models import LoyaltyAccount

from ..exceptions import IdempotencyConflict, InvalidIdempotencyKey, SubscriptionNotFound
from ..models import ApprovalRequest, IdempotencyRecord, LoyaltyEvent, Reward, WebhookSubscription

MAX_KEY_LENGTH = IdempotencyRecord._meta.get_field("key").max_length


def fingerprint(action: str, **request: object) -> str:
    """SHA-256 of the request, independent of argument order; model instances by their pk."""

    def plain(value: object) -> object:
        if isinstance(value, models.Model):
            return str(value.pk)
        return str(value)

    canonical = json.dumps({"action": action, **request}, sort_keys=True, default=plain)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim_key(*, scope: str, key: str, fingerprint: str) -> tuple[IdempotencyRecord, bool]:
    """Reserve `key` for this request: (record, True); or, for a retry of the request that
    first used it, (that request's record, False). Another request raises IdempotencyConflict.

    Run it inside the action's transaction: a refused action rolls the reservation back, so a
    retry is judged afresh. Two concurrent first uses meet at the unique constraint; the second
    waits for the first to commit and then reads its record.
    """
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(
            f"Use an idempotency key of at most {MAX_KEY_LENGTH} characters "
            f"(this one has {len(key):,})."
        )
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(scope=scope, key=key, fingerprint=fingerprint)
        return record, True
    except IntegrityError:
        record = IdempotencyRecord.objects.select_related("event").get(scope=scope, key=key)
    if record.fingerprint != fingerprint:
        raise IdempotencyConflict()
    return record, False


def _remember(record: IdempotencyRecord, result: object) -> None:
    """Link a claimed key to what its request made, for the replays to return."""
    made = getattr(result, "made", result)  # an Adjustment names what it made
    if isinstance(made, LoyaltyEvent):
        record.event = made
        record.save(update_fields=["event"])
    elif isinstance(made, ApprovalRequest):
        record.response = {"approval_request": str(made.pk)}
        record.save(update_fields=["response"])
    elif isinstance(made, Reward):
        record.response = {"reward": str(made.pk)}
        record.save(update_fields=["response"])
    elif isinstance(made, LoyaltyAccount):
        record.response = {"loyalty_account_id": str(made.pk)}
        record.save(update_fields=["response"])
    elif isinstance(made, WebhookSubscription):
        record.response = {"webhook_subscription": made.pk}
        record.save(update_fields=["response"])
    else:
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


def idempotent(
    action: str, *, result: Callable[[Any], Any] | None = None, own_scope: bool = False
) -> Callable:
    """Make a keyword-only command idempotent under its `idempotency_key` argument.

    The key is scoped to the command's `actor` (an API client, an operator, the system; and
    the action itself when `own_scope`), and the request is fingerprinted from every other
    argument. A replay returns what the first request made, passed through `result`.
    """

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command)

        @functools.wraps(command)
        @transaction.atomic
        def run(**kwargs: Any) -> Any:
            key = kwargs.get("idempotency_key")
            if not key:
                return command(**kwargs)
            actor = kwargs["actor"]
            scope = f"{actor.idempotency_scope}:{action}" if own_scope else actor.idempotency_scope
            bound = signature.bind(**kwargs)
            bound.apply_defaults()  # the same request fingerprints alike, however it is spelled
            request = {
                k: v for k, v in bound.arguments.items() if k not in ("actor", "idempotency_key")
            }
            record, new = claim_key(
                scope=scope, key=key, fingerprint=fingerprint(action, **request)
            )
            if not new:
                made = _recall(record)
                return result(made) if result else made
            outcome = command(**kwargs)
            _remember(record, outcome)
            return outcome

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
