"""Delivering webhook notifications: the job worker posts what the outbox holds.

* One job per subscription (`deliver_webhooks`), so a slow or dead receiver holds up only its
  own notifications: a job stops at its first failed attempt and lets the worker run the
  other subscriptions' jobs, so they wait at most one timeout.
* In order per account: a notification is posted only when no older one of its subscription
  about the same account is still waiting.
* At least once: a notification is held while it is posted (`held_until`); a worker killed
  mid-delivery leaves the hold to run out and the notification is posted again, with the same
  `event_id`, so receivers de-duplicate.
* Failures (no connection, timeout, any status but 2xx) are retried with exponential backoff
  and jitter for WEBHOOK_RETRY_HOURS, then the notification is FAILED.
* Every attempt's outcome is written by `record_delivery`, the one place to count them.
"""

import base64
import hashlib
import hmac
import logging
import random
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import caches
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from loyalty_admin import metrics

from ..models import WebhookNotification, WebhookSubscription
from .webhook_network import Reply, post

log = logging.getLogger(__name__)
Status = WebhookNotification.Status
SIGNATURE_HEADER = "x-square-hmacsha256-signature"
HEAD_WINDOW = 500


def shared_cache(operation: str, *args: object, failed: object = None, **kwargs: object) -> object:
    """`caches["shared"].<operation>(...)`, or `failed` when the cache is unreachable (Redis
    down): webhooks then cost a query or a spare job, never a failed ledger write."""
    try:
        return getattr(caches["shared"], operation)(*args, **kwargs)
    except Exception as exc:  # the cache client's own errors (redis.ConnectionError, ...)
        log.warning("Webhook cache unavailable (%s): %s", operation, exc)
        return failed


def signature(*, key: str, url: str, body: str) -> str:
    """Square's signature: base64(HMAC-SHA256(key, notification URL + body))."""
    digest = hmac.new(key.encode(), (url + body).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: doubling from the first delay up to
    the maximum, each drawn at random from its upper half (jitter: receivers that came back
    are not hit by every sender at once)."""
    ceiling = min(
        settings.WEBHOOK_RETRY_FIRST_SECONDS * 2 ** min(attempts - 1, 30),
        settings.WEBHOOK_RETRY_MAX_SECONDS,
    )
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def record_delivery(notification: WebhookNotification, reply: Reply, *, now: datetime) -> str:
    """Write the outcome of one attempt and release the hold; the new status.

    Every attempt ends here (a metrics counter of delivery outcomes hooks in here)."""
    notification.attempts += 1
    notification.last_attempt_at = now
    notification.last_status_code = reply.status_code
    notification.last_error = reply.error[:500]
    notification.held_until = None
    if reply.ok:
        notification.status = Status.DELIVERED
        notification.delivered_at = now
    else:
        retry_at = now + retry_delay(notification.attempts)
        if retry_at > notification.give_up_at:
            notification.status = Status.FAILED
        else:
            notification.next_attempt_at = retry_at
    notification.save(
        update_fields=[
            "attempts",
            "last_attempt_at",
            "last_status_code",
            "last_error",
            "held_until",
            "status",
            "delivered_at",
            "next_attempt_at",
        ]
    )
    log.info(
        "webhook %s %s to %s: %s (%s)",
        notification.event_type,
        notification.event_id,
        notification.subscription_id,
        notification.status,
        reply.status_code or reply.error,
    )
    outcome = notification.status.lower() if notification.status != Status.PENDING else "retrying"
    metrics.after_commit(lambda: metrics.count_webhook_delivery(status=outcome))
    return notification.status


def attempt(notification: WebhookNotification, subscription: WebhookSubscription) -> str:
    """Post one (held) notification to its subscription's URL, signed with its current key."""
    url, body = subscription.notification_url, notification.body
    signed = signature(key=subscription.signature_key, url=url, body=body)
    reply = post(url, body.encode(), {SIGNATURE_HEADER: signed})
    return record_delivery(notification, reply, now=timezone.now())


def hold_until(now: datetime) -> datetime:
    # Longer than any attempt takes; a hold older than this is a worker that died.
    return now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 30)


def _heads(subscription_id: str) -> list[WebhookNotification]:
    """The subscription's waiting notifications that may go next: the oldest of each account
    (and every one about no account), oldest first."""
    pending = (
        WebhookNotification.objects.filter(subscription_id=subscription_id, status=Status.PENDING)
        .order_by("id")
        .only("id", "account_id", "next_attempt_at", "held_until")[:HEAD_WINDOW]
    )
    heads, seen = [], set()
    for candidate in pending:
        if candidate.account_id is not None:
            if candidate.account_id in seen:
                continue
            seen.add(candidate.account_id)
        heads.append(candidate)
    return heads


def _hold_next(subscription_id: str, now: datetime) -> WebhookNotification | None:
    """Take the hold on the oldest due notification that no older one of its account waits
    before; None when there is none."""
    for head in _heads(subscription_id):
        if head.next_attempt_at > now or (head.held_until is not None and head.held_until > now):
            continue
        claimed = WebhookNotification.objects.filter(
            Q(held_until__isnull=True) | Q(held_until__lte=now),
            pk=head.pk,
            status=Status.PENDING,
        ).update(held_until=hold_until(now))
        if claimed:
            return WebhookNotification.objects.get(pk=head.pk)
    return None


def deliver_due(*, subscription_id: str) -> int:
    """Post the subscription's due notifications until none is due, one fails, or the job
    has run for one timeout (then it yields the worker to the other subscriptions' jobs and
    queues itself again); how many were attempted."""
    started, attempted = time.monotonic(), 0
    while time.monotonic() - started < settings.WEBHOOK_TIMEOUT_SECONDS:
        # Cleared before each look, so a notification committed after it wakes a new job.
        shared_cache("delete", _wake_key(subscription_id))
        subscription = WebhookSubscription.objects.filter(pk=subscription_id).first()
        if subscription is None or not subscription.enabled:
            return attempted
        notification = _hold_next(subscription_id, timezone.now())
        if notification is None:
            return attempted
        attempted += 1
        if attempt(notification, subscription) != Status.DELIVERED:
            return attempted
    return attempted


def next_due(subscription_id: str) -> datetime | None:
    """When the subscription's next attempt is due (a held one: when its hold runs out)."""
    times = [
        max(h.next_attempt_at, h.held_until or h.next_attempt_at) for h in _heads(subscription_id)
    ]
    return min(times, default=None)


@task()
def deliver_webhooks(subscription_id: str) -> int:
    """The job: deliver what is due, then queue itself for when the next retry is due."""
    attempted = deliver_due(subscription_id=subscription_id)
    due = next_due(subscription_id)
    if (
        due is not None
        and WebhookSubscription.objects.filter(pk=subscription_id, enabled=True).exists()
    ):
        # After a failure, wait a moment even if other notifications are due: the receiver is
        # likely down for all of them.
        run_after = max(due, timezone.now() + timedelta(seconds=1))
        _queue(subscription_id, run_after=run_after)
    return attempted


def _wake_key(subscription_id: str) -> str:
    return f"webhooks:wake:{connection.settings_dict['NAME']}:{subscription_id}"


def _queue(subscription_id: str, *, run_after: datetime | None = None) -> None:
    if run_after is None:
        deliver_webhooks.enqueue(subscription_id)
    else:
        deliver_webhooks.using(run_after=run_after).enqueue(subscription_id)


def wake(subscription_ids: set[str]) -> None:
    """After the commit: make sure a job will deliver these subscriptions' new notifications.
    A job already queued and not started will see them, so at most one is queued at a time
    (the mark is a cache entry, not SQL, to keep the ledger's write path short)."""
    for subscription_id in subscription_ids:
        if shared_cache("add", _wake_key(subscription_id), 1, timeout=60, failed=True):
            _queue(subscription_id)


def wake_all() -> int:
    """Queue a job for every enabled subscription with waiting notifications (the periodic
    safety net, e.g. after a worker was killed); how many."""
    ids = set(
        WebhookNotification.objects.filter(
            status=Status.PENDING, subscription__enabled=True
        ).values_list("subscription_id", flat=True)
    )
    for subscription_id in ids:
        _queue(subscription_id)
    return len(ids)


def give_up_at(now: datetime) -> datetime:
    return now + timedelta(hours=settings.WEBHOOK_RETRY_HOURS)


def release_for_resend(notification: WebhookNotification) -> None:
    """Make a notification due again now, with a fresh retry budget (same event_id)."""
    now = timezone.now()
    with transaction.atomic():
        WebhookNotification.objects.filter(pk=notification.pk).update(
            status=Status.PENDING,
            next_attempt_at=now,
            give_up_at=give_up_at(now),
            held_until=None,
            delivered_at=None,
        )
        transaction.on_commit(lambda: wake({notification.subscription_id}))
