"""Webhooks: subscriptions, Square's way, and the outbox of notifications.

A notification is written in the same transaction as the change it tells about (the outbox):
a rolled-back adjustment notifies nobody, a committed one always does. Every change to a
balance passes `posting.append` (or the bulk writer, its set-based twin), which calls
`notify_events`, so every face produces them without code of its own. The job worker delivers
them (`webhook_delivery`).

Which subscriptions want what is cached (WEBHOOK_CACHE_SECONDS, dropped on every change of a
subscription), and each process remembers it for WEBHOOK_LOCAL_SECONDS (2 s), so that with
none enabled an adjustment costs no query and no cache round trip at all, and with some, one
INSERT. A subscription added, changed or disabled applies to the writes of the process that
changed it at once, and to every other process's within WEBHOOK_LOCAL_SECONDS.
"""

import json
import secrets
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import LoyaltyAccount, Program
from loyalty_admin.remembered import Remembered

from ..exceptions import (  # noqa: F401  (re-exported for the faces and tests)
    InvalidNotificationUrl,
    NotAllowed,
    RefusedNotificationUrl,
    UnknownEventType,
)
from ..models import LoyaltyEvent, WebhookNotification, WebhookSubscription
from ..selectors.square import square_account, square_event, square_program, timestamp
from . import webhook_delivery
from .actors import Actor
from .idempotency import idempotent
from .webhook_network import check_url

# Square's event types that this server sends, and the Square API version that brought each.
EVENT_TYPES = {
    "loyalty.account.created": "2020-05-28",
    "loyalty.account.updated": "2020-05-28",
    "loyalty.event.created": "2020-05-28",
    "loyalty.program.updated": "2020-05-28",
}
API_VERSION = "2025-01-23"
WEBHOOK_CACHE_SECONDS = 30


def wanted_cache_key() -> str:
    # Per database: processes sharing a cache (one Redis, one cache folder) may serve others.
    return f"webhooks:wanted:{connection.settings_dict['NAME']}"


def _require_rights(actor: Actor) -> None:
    # API keys with the write scope manage subscriptions (the view checks the scope);
    # operators must be managers.
    if actor.api_client is None:
        actor.require_manager("manage webhook subscriptions")


def _event_types(event_types: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(event_types))
    if not chosen:
        raise UnknownEventType("Choose at least one event type.")
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        raise UnknownEventType(
            f"Unknown event type “{unknown[0]}”; this server sends {', '.join(EVENT_TYPES)}."
        )
    return chosen


def _forget_wanted() -> None:
    def forget() -> None:
        _remembered.forget()
        webhook_delivery.shared_cache("delete", wanted_cache_key())

    # Now, and again once committed: a writer may re-read the old list in between.
    forget()
    transaction.on_commit(forget)


def new_signature_key() -> str:
    return secrets.token_urlsafe(16)


@idempotent("webhook", own_scope=True)
@transaction.atomic
def create_subscription(
    *,
    notification_url: str,
    event_types: Iterable[str],
    actor: Actor,
    name: str = "",
    enabled: bool = True,
    api_version: str = "",
    idempotency_key: str | None = None,
) -> WebhookSubscription:
    """A new subscription, with a new signature key (show it once). Under an idempotency key,
    a retry returns the subscription the first request made."""
    _require_rights(actor)
    subscription = WebhookSubscription.objects.create(
        name=name.strip(),
        notification_url=check_url(notification_url.strip()),
        event_types=_event_types(event_types),
        enabled=enabled,
        api_version=api_version or API_VERSION,
        signature_key=new_signature_key(),
    )
    actor.audit(
        action="webhook.created",
        target=subscription,
        summary=f"Webhook “{subscription}” → {subscription.notification_url}",
    )
    _forget_wanted()
    return subscription


@transaction.atomic
def update_subscription(
    *, subscription: WebhookSubscription, actor: Actor, **changes: object
) -> WebhookSubscription:
    """Change a subscription's name, URL, event types, API version or enabled flag."""
    _require_rights(actor)
    allowed = {"name", "notification_url", "event_types", "enabled", "api_version"}
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"Not a subscription field: {', '.join(sorted(unknown))}")
    if "notification_url" in changes:
        changes["notification_url"] = check_url(str(changes["notification_url"]).strip())
    if "event_types" in changes:
        changes["event_types"] = _event_types(changes["event_types"])  # type: ignore[arg-type]
    if "name" in changes:
        changes["name"] = str(changes["name"]).strip()
    for field, value in changes.items():
        setattr(subscription, field, value)
    subscription.save(update_fields=[*changes, "updated_at"])
    actor.audit(
        action="webhook.changed",
        target=subscription,
        summary=f"Webhook “{subscription}”: {', '.join(sorted(changes)) or 'nothing'} changed",
    )
    _forget_wanted()
    if subscription.enabled:
        transaction.on_commit(lambda: webhook_delivery.wake({subscription.pk}))
    return subscription


@transaction.atomic
def delete_subscription(*, subscription: WebhookSubscription, actor: Actor) -> None:
    """Delete a subscription and its delivery log; nothing more is sent to it."""
    _require_rights(actor)
    actor.audit(
        action="webhook.deleted",
        target=subscription,
        summary=f"Webhook “{subscription}” deleted",
    )
    WebhookNotification.objects.filter(subscription_id=subscription.pk).delete()
    subscription.delete()
    _forget_wanted()


@transaction.atomic
def rotate_signature_key(*, subscription: WebhookSubscription, actor: Actor) -> str:
    """A new signature key for the subscription (show it once); the old one stops signing."""
    _require_rights(actor)
    subscription.signature_key = new_signature_key()
    subscription.save(update_fields=["signature_key", "updated_at"])
    actor.audit(
        action="webhook.key_rotated",
        target=subscription,
        summary=f"Webhook “{subscription}”: signature key rotated",
    )
    return subscription.signature_key


# --- The outbox ------------------------------------------------------------------------------


# The list each process remembers for at most WEBHOOK_LOCAL_SECONDS (settings; 2 by default),
# so that an adjustment usually asks neither the shared cache nor the database: a subscription
# added, changed or disabled on another process applies to this one's writes within the bound.
_remembered: Remembered[list[tuple[str, frozenset[str]]]] = Remembered("WEBHOOK_LOCAL_SECONDS", 2.0)


def _shared_wanted() -> list[tuple[str, frozenset[str]]]:
    wanted = webhook_delivery.shared_cache("get", wanted_cache_key())
    if wanted is None:
        wanted = [
            (pk, list(types))
            for pk, types in WebhookSubscription.objects.filter(enabled=True).values_list(
                "id", "event_types"
            )
        ]
        webhook_delivery.shared_cache(
            "set", wanted_cache_key(), wanted, timeout=WEBHOOK_CACHE_SECONDS
        )
    return [(pk, frozenset(types)) for pk, types in wanted]


def _wanted() -> list[tuple[str, frozenset[str]]]:
    """(subscription id, its event types) of every enabled subscription."""
    return _remembered.get(wanted_cache_key(), _shared_wanted)


def forget_wanted_here() -> None:
    """Forget this process's list: the next write reads the shared cache."""
    _remembered.forget()


def notification_body(
    *, event_type: str, event_id: uuid.UUID, created_at: datetime, kind: str, obj: dict
) -> str:
    payload = {
        "merchant_id": settings.WEBHOOK_MERCHANT_ID,
        "type": event_type,
        "event_id": str(event_id),
        "created_at": timestamp(created_at),
        "data": {"type": kind, "id": obj["id"], "object": {kind: obj}},
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


class _Outbox:
    """The notifications of one write, inserted together."""

    def __init__(self) -> None:
        self.wanted = _wanted()
        self.rows: list[WebhookNotification] = []

    def add(
        self,
        event_type: str,
        *,
        kind: str,
        render: Callable[[], dict],
        created_at: datetime,
        account_id: object = None,
    ) -> None:
        obj = None
        for subscription_id, types in self.wanted:
            if event_type not in types:
                continue
            obj = obj if obj is not None else render()
            event_id = uuid.uuid4()
            self.rows.append(
                WebhookNotification(
                    subscription_id=subscription_id,
                    event_id=event_id,
                    event_type=event_type,
                    account_id=account_id,
                    body=notification_body(
                        event_type=event_type,
                        event_id=event_id,
                        created_at=created_at,
                        kind=kind,
                        obj=obj,
                    ),
                    next_attempt_at=created_at,
                    give_up_at=webhook_delivery.give_up_at(created_at),
                    created_at=created_at,
                )
            )

    def write(self) -> None:
        if not self.rows:
            return
        WebhookNotification.objects.bulk_create(self.rows)
        woken = {row.subscription_id for row in self.rows}
        transaction.on_commit(lambda: webhook_delivery.wake(woken))


def notify_events(events: Iterable[LoyaltyEvent], accounts: dict[object, LoyaltyAccount]) -> None:
    """In the events' transaction: loyalty.event.created and loyalty.account.updated (the
    account as the event left it) for each event, to every subscription that wants them."""
    outbox = _Outbox()
    if not outbox.wanted:
        return
    for event in events:
        account = accounts[event.account_id]
        outbox.add(
            "loyalty.event.created",
            kind="loyalty_event",
            render=lambda event=event: square_event(event),
            created_at=event.created_at,
            account_id=event.account_id,
        )
        outbox.add(
            "loyalty.account.updated",
            kind="loyalty_account",
            render=lambda event=event, account=account: square_account(account, as_of=event),
            created_at=event.created_at,
            account_id=event.account_id,
        )
    outbox.write()


def notify_account_created(account: LoyaltyAccount) -> None:
    outbox = _Outbox()
    outbox.add(
        "loyalty.account.created",
        kind="loyalty_account",
        render=lambda: square_account(account),
        created_at=account.created_at,
        account_id=account.pk,
    )
    outbox.write()


def notify_program_updated(program: Program) -> None:
    outbox = _Outbox()
    outbox.add(
        "loyalty.program.updated",
        kind="loyalty_program",
        render=lambda: square_program(program),
        created_at=program.updated_at,
    )
    outbox.write()


# --- Tests and resends -----------------------------------------------------------------------


def send_test_notification(
    *, subscription: WebhookSubscription, actor: Actor, event_type: str | None = None
) -> WebhookNotification:
    """Post a sample notification to the subscription now (even when disabled) and return it
    with the outcome. The sample is the newest real object of that kind, or a made-up one."""
    _require_rights(actor)
    event_type = event_type or subscription.event_types[0]
    _event_types([event_type])
    now = timezone.now()
    event_id = uuid.uuid4()
    kind, obj = _sample(event_type)
    notification = WebhookNotification.objects.create(
        subscription=subscription,
        event_id=event_id,
        event_type=event_type,
        body=notification_body(
            event_type=event_type, event_id=event_id, created_at=now, kind=kind, obj=obj
        ),
        is_test=True,
        next_attempt_at=now,
        give_up_at=now,  # a test is tried once
        held_until=webhook_delivery.hold_until(now),
        created_at=now,
    )
    webhook_delivery.attempt(notification, subscription)
    return notification


def _sample(event_type: str) -> tuple[str, dict]:
    if event_type == "loyalty.program.updated":
        program = Program.objects.order_by("-is_default", "created_at").first()
        if program is not None:
            return "loyalty_program", square_program(program)
    elif event_type == "loyalty.event.created":
        event = LoyaltyEvent.objects.order_by("-created_at").first()
        if event is not None:
            return "loyalty_event", square_event(event)
    else:
        account = LoyaltyAccount.objects.order_by("-created_at").first()
        if account is not None:
            return "loyalty_account", square_account(account)
    kind = {"loyalty.program.updated": "loyalty_program", "loyalty.event.created": "loyalty_event"}
    return kind.get(event_type, "loyalty_account"), {"id": str(uuid.uuid4())}


def resend_notification(*, notification: WebhookNotification, actor: Actor) -> None:
    """Post a notification again (same event_id), after those of its account before it."""
    _require_rights(actor)
    actor.audit(
        action="webhook.resent",
        target=notification.subscription,
        summary=f"Webhook notification {notification.event_id} resent",
    )
    webhook_delivery.release_for_resend(notification)
