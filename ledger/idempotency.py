"""Idempotency keys: a retried request returns the first result; another request under a key
already used is refused (DESIGN.md invariant 5)."""

import hashlib
import json

from django.db import IntegrityError, transaction

from .exceptions import IdempotencyConflict
from .models import IdempotencyRecord, LoyaltyEvent


def fingerprint(action: str, **request: object) -> str:
    """SHA-256 of the request, independent of argument order."""
    canonical = json.dumps({"action": action, **request}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim_key(*, scope: str, key: str, fingerprint: str) -> tuple[IdempotencyRecord, bool]:
    """Reserve `key` for this request: (record, True); or, for a retry of the request that
    first used it, (that request's record, False). Another request raises IdempotencyConflict.

    Run it inside the action's transaction: a refused action rolls the reservation back, so a
    retry is judged afresh. Two concurrent first uses meet at the unique constraint; the second
    waits for the first to commit and then reads its record.
    """
    if len(key) > IdempotencyRecord._meta.get_field("key").max_length:
        raise IdempotencyConflict("The idempotency key is longer than 191 characters.")
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(scope=scope, key=key, fingerprint=fingerprint)
        return record, True
    except IntegrityError:
        record = IdempotencyRecord.objects.select_related("event").get(scope=scope, key=key)
    if record.fingerprint != fingerprint:
        raise IdempotencyConflict()
    return record, False


def remember(record: IdempotencyRecord, *, event: LoyaltyEvent) -> None:
    """Link a claimed key to the event its request made, for the replays to return."""
    record.event = event
    record.save(update_fields=["event"])
