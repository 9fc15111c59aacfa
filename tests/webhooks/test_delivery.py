"""Webhooks end to end against a real receiver on loopback: what each face produces, the
signature the Square SDK checks, order, retries, failure, holds, and the outbox's cost."""

import time
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient
from square.utils.webhooks_helper import verify_signature

from accounts.models import Program
from ledger import services
from ledger.models import (
    ApprovalRequest,
    BulkBatch,
    LoyaltyEvent,
    WebhookNotification,
    WebhookSubscription,
)
from ledger.services import Actor, webhook_delivery, webhooks
from tests.factories import AccountFactory, api_client
from tests.loyalty_admin.test_metrics import scrape, value

pytestmark = pytest.mark.django_db
Status = WebhookNotification.Status


def deliver(subscription) -> int:
    return webhook_delivery.deliver_due(subscription_id=subscription.pk)


def verified(receiver, subscription) -> bool:
    return all(
        verify_signature(
            request_body=r.body,
            signature_header=r.headers["x-square-hmacsha256-signature"],
            signature_key=subscription.signature_key,
            notification_url=subscription.notification_url,
        )
        for r in receiver.received
    )


# --- Every face -------------------------------------------------------------------------------


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def by_console(account, manager, **_):
    client = APIClient()
    client.force_login(manager)
    reason = account.program.reasons.get(code="REWARD")
    response = client.post(
        reverse("adjustment-create", args=[account.pk]),
        {
            "reason": reason.pk,
            "amount": 25,
            "visible_to_customer": "on",
            "token": str(uuid.uuid4()),
        },
    )
    assert response.status_code in (200, 302)


def by_native(account, key, **_):
    response = bearer(key).post(
        reverse("api-adjustments", args=[account.pk]),
        {"reason": "REWARD", "points": 25},
        format="json",
        HTTP_IDEMPOTENCY_KEY="n1",
    )
    assert response.status_code == 201, response.content


def by_square(account, key, **_):
    response = bearer(key).post(
        reverse("square-adjust", args=[account.pk]),
        {"idempotency_key": "s1", "adjust_points": {"points": 25}},
        format="json",
    )
    assert response.status_code == 200, response.content


def by_yotpo(account, key, **_):
    response = APIClient().post(
        reverse("yotpo-adjust"),
        {"customer_email": account.email, "point_adjustment_amount": 25},
        format="json",
        HTTP_X_API_KEY=key,
    )
    assert response.status_code == 200, response.content


def by_bulk(account, manager, **_):
    client = APIClient()
    client.force_login(manager)
    content = f"email,points,reason\n{account.email},25,REWARD\n"
    client.post(reverse("bulk"), {"file": SimpleUploadedFile("f.csv", content.encode())})
    batch = BulkBatch.objects.latest("created_at")
    services.apply_batch(batch=batch)
    assert BulkBatch.objects.get(pk=batch.pk).status == BulkBatch.Status.APPLIED


def by_reversal(account, manager, **_):
    # The reversal of a -25 adds 25.
    event = services.adjust_points(
        account=account,
        points=-25,
        reason=account.program.reasons.get(code="REDEEM_DISCOUNT"),
        allow_negative=True,
        actor=Actor.of_operator(manager),
    ).event
    WebhookNotification.objects.all().delete()
    services.reverse_event(event=event, note="Mistake", actor=Actor.of_operator(manager))


def by_approval(account, manager, agent, **_):
    Program.objects.filter(pk=account.program_id).update(approval_threshold=10)
    account.refresh_from_db()
    held = services.adjust_points(
        account=account,
        points=25,
        reason=account.program.reasons.get(code="REWARD"),
        actor=Actor.of_operator(agent),
    )
    assert held.event is None
    request = ApprovalRequest.objects.get()
    services.approve_request(request=request, actor=Actor.of_operator(manager))


def by_expiry(account, manager, **_):
    Program.objects.filter(pk=account.program_id).update(expiration_policy="P1D")
    account.refresh_from_db()
    services.adjust_points(
        account=account,
        points=25,
        reason=account.program.reasons.get(code="REWARD"),
        actor=Actor.of_operator(manager),
    )
    WebhookNotification.objects.all().delete()
    assert services.expire_points(account=account, now=timezone.now() + timedelta(days=2))


FACES = [by_console, by_native, by_square, by_yotpo, by_bulk, by_reversal, by_approval, by_expiry]


@pytest.mark.parametrize("face", FACES, ids=lambda f: f.__name__)
def test_it_notifies_each_change_once_from_every_face(
    face, receiver, subscription, account, manager, agent
):
    key = api_client()[1]
    face(account=account, manager=manager, agent=agent, key=key)

    assert deliver(subscription) == 2
    account.refresh_from_db()
    [created] = receiver.of_type("loyalty.event.created")
    [updated] = receiver.of_type("loyalty.account.updated")
    event = LoyaltyEvent.objects.filter(account=account).latest("created_at")
    assert created["data"]["id"] == str(event.pk)
    assert created["data"]["type"] == "loyalty_event"
    assert created["data"]["object"]["loyalty_event"]["id"] == str(event.pk)
    loyalty_account = updated["data"]["object"]["loyalty_account"]
    assert loyalty_account["balance"] == account.balance
    assert loyalty_account["lifetime_points"] == account.lifetime_points
    assert set(created) == {"merchant_id", "type", "event_id", "created_at", "data"}
    assert verified(receiver, subscription)
    assert {r.path for r in receiver.received} == {"/hooks"}


def test_a_rolled_back_adjustment_notifies_nobody(
    receiver, subscription, account, reasons, manager
):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.adjust_points(
            account=account, points=5, reason=reasons["REWARD"], actor=Actor.of_operator(manager)
        )
        raise RuntimeError("rolled back")
    assert not WebhookNotification.objects.exists()
    assert deliver(subscription) == 0
    assert receiver.received == []


def test_disabled_and_uninterested_subscriptions_get_nothing(
    receiver, subscription, account, reasons, manager
):
    actor = Actor.of_operator(manager)
    webhooks.update_subscription(subscription=subscription, actor=actor, enabled=False)
    other = webhooks.create_subscription(
        notification_url=receiver.url, event_types=["loyalty.program.updated"], actor=actor
    )
    services.adjust_points(account=account, points=5, reason=reasons["REWARD"], actor=actor)
    assert not WebhookNotification.objects.exists()
    assert deliver(other) == 0


# --- The cost on the write path --------------------------------------------------------------


def adjust_queries(account, reasons, manager) -> list[str]:
    actor = Actor.of_operator(manager)
    services.adjust_points(account=account, points=1, reason=reasons["REWARD"], actor=actor)
    with CaptureQueriesContext(connection) as queries:
        services.adjust_points(account=account, points=1, reason=reasons["REWARD"], actor=actor)
    return [q["sql"] for q in queries.captured_queries]


def test_without_subscriptions_an_adjustment_costs_no_query_more(account, reasons, manager):
    sql = adjust_queries(account, reasons, manager)
    assert not [q for q in sql if "webhook" in q]


def test_with_subscriptions_an_adjustment_costs_one_insert(
    receiver, subscription, account, reasons, manager
):
    webhooks.create_subscription(
        notification_url=receiver.url,
        event_types=["loyalty.event.created"],
        actor=Actor.of_operator(manager),
    )
    sql = adjust_queries(account, reasons, manager)
    webhook_sql = [q for q in sql if "webhook" in q]
    assert len(webhook_sql) == 1 and webhook_sql[0].startswith("INSERT")
    assert WebhookNotification.objects.count() == 3 * 2  # two adjustments × 3 notifications


def subscribe_elsewhere(receiver) -> None:
    """A subscription added by another process: its row, and the shared cache's list dropped
    (as that process's service does on commit); nothing this process remembers is touched."""
    WebhookSubscription.objects.create(
        notification_url=receiver.url,
        event_types=["loyalty.event.created"],
        signature_key=webhooks.new_signature_key(),
    )
    webhook_delivery.shared_cache("delete", webhooks.wanted_cache_key())


@override_settings(WEBHOOK_LOCAL_SECONDS=60)
def test_a_process_remembers_the_subscriptions_until_the_bound(receiver, account, reasons, manager):
    actor = Actor.of_operator(manager)
    services.adjust_points(account=account, points=1, reason=reasons["REWARD"], actor=actor)
    subscribe_elsewhere(receiver)

    # Within the bound the remembered list (none) answers: no cache, no query, no notification.
    sql = adjust_queries(account, reasons, manager)
    assert not [q for q in sql if "webhook" in q]
    assert not WebhookNotification.objects.exists()

    webhooks.forget_wanted_here()  # as the bound passing does
    services.adjust_points(account=account, points=1, reason=reasons["REWARD"], actor=actor)
    assert WebhookNotification.objects.get().event_type == "loyalty.event.created"


@override_settings(WEBHOOK_LOCAL_SECONDS=0.5)
def test_a_subscription_added_elsewhere_applies_within_the_bound(
    receiver, account, reasons, manager
):
    actor = Actor.of_operator(manager)
    services.adjust_points(account=account, points=1, reason=reasons["REWARD"], actor=actor)
    subscribe_elsewhere(receiver)
    added_at = time.monotonic()
    while not WebhookNotification.objects.exists():
        assert time.monotonic() - added_at < 0.5 + 0.5, "still not notified after the bound"
        time.sleep(0.05)
        services.adjust_points(account=account, points=1, reason=reasons["REWARD"], actor=actor)


def test_a_subscription_added_here_applies_at_once(receiver, account, reasons, manager):
    actor = Actor.of_operator(manager)
    services.adjust_points(account=account, points=1, reason=reasons["REWARD"], actor=actor)
    webhooks.create_subscription(
        notification_url=receiver.url, event_types=["loyalty.event.created"], actor=actor
    )
    services.adjust_points(account=account, points=1, reason=reasons["REWARD"], actor=actor)
    assert WebhookNotification.objects.count() == 1


# --- Retries, order, failure -------------------------------------------------------------------


def test_a_receiver_down_then_up_gets_everything_in_order_once(
    receiver, subscription, reasons, manager
):
    actor = Actor.of_operator(manager)
    first, second = AccountFactory(program=reasons["REWARD"].program), None
    second = AccountFactory(program=first.program)
    receiver.status = 503
    with time_machine.travel(timezone.now(), tick=True) as clock:
        for points in (10, 20, 30):
            for account in (first, second):
                services.adjust_points(
                    account=account, points=points, reason=reasons["REWARD"], actor=actor
                )
        for _ in range(4):  # down for a while: attempts fail and are spaced out
            deliver(subscription)
            clock.shift(timedelta(minutes=5))
        assert receiver.received == []
        receiver.status = 200
        for _ in range(30):
            deliver(subscription)
            clock.shift(timedelta(hours=1))
    assert WebhookNotification.objects.filter(status=Status.DELIVERED).count() == 12
    for account in (first, second):
        balances = [
            p["data"]["object"]["loyalty_account"]["balance"]
            for p in receiver.of_type("loyalty.account.updated")
            if p["data"]["id"] == str(account.pk)
        ]
        assert balances == [10, 30, 60]
    event_ids = [r.payload["event_id"] for r in receiver.received]
    assert len(event_ids) == len(set(event_ids)) == 12


def test_a_receiver_that_always_fails_ends_failed_after_a_day(
    receiver, subscription, account, reasons, manager
):
    receiver.status = 500
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        services.adjust_points(
            account=account, points=5, reason=reasons["REWARD"], actor=Actor.of_operator(manager)
        )
        delays = []
        while WebhookNotification.objects.filter(status=Status.PENDING).exists():
            deliver(subscription)
            due = webhook_delivery.next_due(subscription.pk)
            if due is None:
                break
            delays.append((due - timezone.now()).total_seconds())
            clock.move_to(due)
    notification = WebhookNotification.objects.filter(event_type="loyalty.event.created").get()
    assert notification.status == Status.FAILED
    assert notification.last_status_code == 500
    assert start + timedelta(hours=23) < notification.last_attempt_at <= start + timedelta(hours=24)
    assert 10 < notification.attempts < 60
    assert delays[0] <= 15 and max(delays) <= 3600  # exponential, capped at an hour


def test_a_held_notification_of_a_killed_worker_is_sent_again_with_its_event_id(
    receiver, subscription, account, reasons, manager
):
    services.adjust_points(
        account=account, points=5, reason=reasons["REWARD"], actor=Actor.of_operator(manager)
    )
    # A worker took the hold and died before recording anything.
    now = timezone.now()
    held = webhook_delivery._hold_next(subscription.pk, now)
    assert deliver(subscription) == 0  # still held: nobody else sends it meanwhile
    with time_machine.travel(webhook_delivery.hold_until(now) + timedelta(seconds=1)):
        assert deliver(subscription) == 2
    assert receiver.received[0].payload["event_id"] == str(held.event_id)


def test_resend_posts_the_same_event_id_again(receiver, subscription, account, reasons, manager):
    actor = Actor.of_operator(manager)
    services.adjust_points(account=account, points=5, reason=reasons["REWARD"], actor=actor)
    deliver(subscription)
    notification = WebhookNotification.objects.filter(event_type="loyalty.event.created").get()
    webhooks.resend_notification(notification=notification, actor=actor)
    assert deliver(subscription) == 1
    assert receiver.received[-1].payload["event_id"] == str(notification.event_id)


def test_one_hanging_receiver_does_not_hold_up_another_subscription(
    receiver, subscription, account, reasons, manager, settings
):
    from tests.receiver import start_receiver

    slow, server = start_receiver()
    slow.delay = 3
    try:
        actor = Actor.of_operator(manager)
        hanging = webhooks.create_subscription(
            notification_url=slow.url, event_types=["loyalty.event.created"], actor=actor
        )
        services.adjust_points(account=account, points=5, reason=reasons["REWARD"], actor=actor)
        started = timezone.now()
        assert deliver(hanging) == 1  # one attempt, timed out, and the job yields
        assert (timezone.now() - started).total_seconds() < settings.WEBHOOK_TIMEOUT_SECONDS + 1
        assert deliver(subscription) == 2
        failed = hanging.notifications.get()
        assert failed.status == Status.PENDING and "within" in failed.last_error
    finally:
        server.shutdown()
        server.server_close()


# --- Safety ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://10.1.2.3/hook", "http://192.168.1.1/", "http://8.8.8.8/", "http://[fd00::1]/"]
)
def test_refused_networks_are_refused_before_any_connection(url, manager, settings):
    settings.WEBHOOK_REFUSED_NETWORKS = ["10.0.0.0/8", "192.168.0.0/16", "fc00::/7", "0.0.0.0/0"]
    with pytest.raises(services.webhooks.RefusedNotificationUrl):
        webhooks.create_subscription(
            notification_url=url,
            event_types=["loyalty.event.created"],
            actor=Actor.of_operator(manager),
        )
    from ledger.services.webhook_network import post

    reply = post(url, b"{}", {})
    assert reply.status_code is None and "does not send" in reply.error


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "hooks", "http://"])
def test_only_http_urls_are_accepted(url, manager):
    with pytest.raises(services.webhooks.InvalidNotificationUrl):
        webhooks.create_subscription(
            notification_url=url,
            event_types=["loyalty.event.created"],
            actor=Actor.of_operator(manager),
        )


def test_redirects_are_not_followed_and_count_as_failures(
    receiver, subscription, account, reasons, manager
):
    receiver.status = 302
    services.adjust_points(
        account=account, points=5, reason=reasons["REWARD"], actor=Actor.of_operator(manager)
    )
    deliver(subscription)
    notification = WebhookNotification.objects.order_by("id").first()
    assert notification.last_status_code == 302 and notification.status == Status.PENDING


def test_an_agent_cannot_manage_subscriptions(agent, receiver):
    with pytest.raises(services.webhooks.NotAllowed):
        webhooks.create_subscription(
            notification_url=receiver.url,
            event_types=["loyalty.event.created"],
            actor=Actor.of_operator(agent),
        )


def test_a_program_change_and_an_enrolment_are_notified(receiver, subscription, program):
    from accounts.services import update_program

    update_program(program=program, name="Stars")
    key = api_client()[1]
    bearer(key).post(
        reverse("square-accounts"),
        {
            "idempotency_key": str(uuid.uuid4()),
            "loyalty_account": {"program_id": "main", "mapping": {"phone_number": "+14155550199"}},
        },
        format="json",
    )
    deliver(subscription)
    [changed] = receiver.of_type("loyalty.program.updated")
    assert changed["data"]["object"]["loyalty_program"]["id"] == str(program.pk)
    [created] = receiver.of_type("loyalty.account.created")
    assert created["data"]["object"]["loyalty_account"]["mapping"]["phone_number"] == "+14155550199"


def test_the_sweep_queues_a_job_for_each_subscription_with_waiting_notifications(
    receiver, subscription, account, reasons, manager
):
    from django.core.management import call_command
    from django_tasks_db.models import DBTaskResult

    services.adjust_points(
        account=account, points=5, reason=reasons["REWARD"], actor=Actor.of_operator(manager)
    )
    queued = DBTaskResult.objects.filter(task_path__endswith="deliver_webhooks").count()
    call_command("deliver_webhooks")
    jobs = DBTaskResult.objects.filter(task_path__endswith="deliver_webhooks")
    assert jobs.count() == queued + 1
    assert jobs.latest("enqueued_at").args_kwargs["args"] == [subscription.pk]


def test_a_subscription_deleted_under_a_stale_cache_never_fails_an_adjustment(
    subscription, account, reasons, manager
):
    actor = Actor.of_operator(manager)
    services.adjust_points(account=account, points=1, reason=reasons["REWARD"], actor=actor)
    # Deleted by another process whose cache invalidation this process has not seen yet.
    type(subscription).objects.filter(pk=subscription.pk).delete()

    services.adjust_points(account=account, points=1, reason=reasons["REWARD"], actor=actor)

    account.refresh_from_db()
    assert account.balance == 2
    assert deliver(subscription) == 0


def test_with_the_shared_cache_down_adjustments_still_notify(
    receiver, subscription, account, reasons, manager, settings
):
    from tests.reliability.server import free_port

    settings.CACHES = {
        **settings.CACHES,
        "shared": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        },
    }
    services.adjust_points(
        account=account, points=5, reason=reasons["REWARD"], actor=Actor.of_operator(manager)
    )
    assert deliver(subscription) == 2


def test_each_attempt_is_counted_in_metrics_by_its_outcome(
    client, receiver, subscription, account, reasons, manager, django_capture_on_commit_callbacks
):
    name = "loyalty_webhook_deliveries_total"
    before = scrape(client)
    services.adjust_points(
        account=account, points=5, reason=reasons["REWARD"], actor=Actor.of_operator(manager)
    )
    receiver.status = 503
    with time_machine.travel(timezone.now(), tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            deliver(subscription)  # the first attempt fails; the job stops there
        receiver.status = 200
        clock.shift(timedelta(hours=1))
        with django_capture_on_commit_callbacks(execute=True):
            deliver(subscription)
    after = scrape(client)

    assert value(after, name, status="retrying") == value(before, name, status="retrying") + 1
    assert value(after, name, status="delivered") == value(before, name, status="delivered") + 2
