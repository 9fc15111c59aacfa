"""The webhooks pages: managers add, change, test, rotate and delete subscriptions and see
each one's delivery log; agents cannot."""

import pytest
from django.urls import reverse

from ledger import services
from ledger.models import WebhookNotification, WebhookSubscription
from ledger.services import Actor, webhook_delivery, webhooks

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def subscription(receiver, manager):
    return webhooks.create_subscription(
        name="Till",
        notification_url=receiver.url,
        event_types=["loyalty.event.created"],
        actor=Actor.of_operator(manager),
    )


def test_it_adds_a_subscription_and_shows_its_key_once(manager_client, receiver):
    response = manager_client.post(
        reverse("webhooks"),
        {
            "name": "POS",
            "notification_url": receiver.url,
            "event_types": ["loyalty.event.created"],
            "enabled": "on",
        },
    )
    assert response.status_code == 200
    subscription = WebhookSubscription.objects.get()
    assert subscription.signature_key in response.text
    assert subscription.signature_key not in manager_client.get(reverse("webhooks")).text
    assert subscription.event_types == ["loyalty.event.created"]


def test_it_refuses_a_url_that_is_not_http(manager_client):
    response = manager_client.post(
        reverse("webhooks"),
        {"notification_url": "ftp://x/y", "event_types": ["loyalty.event.created"]},
    )
    assert response.status_code == 422
    assert "must be an http:// or https:// URL" in response.text
    assert not WebhookSubscription.objects.exists()


def test_it_shows_the_delivery_log_and_resends(
    manager_client, subscription, receiver, account, reasons, manager
):
    services.adjust_points(
        account=account, points=5, reason=reasons["REWARD"], actor=Actor.of_operator(manager)
    )
    webhook_delivery.deliver_due(subscription_id=subscription.pk)
    notification = WebhookNotification.objects.get()
    page = manager_client.get(reverse("webhook", args=[subscription.pk]))
    assert str(notification.event_id) in page.text and "Delivered" in page.text
    assert subscription.signature_key not in page.text

    fragment = manager_client.get(reverse("webhook", args=[subscription.pk]), **HX)
    assert fragment.text.strip().startswith('<section id="delivery-log"')

    resend = reverse("webhook-resend", args=[subscription.pk, notification.pk])
    assert manager_client.post(resend).status_code == 302
    webhook_delivery.deliver_due(subscription_id=subscription.pk)
    assert [r.payload["event_id"] for r in receiver.received] == [str(notification.event_id)] * 2


def test_it_sends_a_test_and_says_what_the_receiver_answered(
    manager_client, subscription, receiver
):
    response = manager_client.post(
        reverse("webhook-test", args=[subscription.pk]),
        {"event_type": "loyalty.account.updated"},
        follow=True,
    )
    assert "Test sent: the receiver answered 200." in response.text
    assert receiver.received[0].payload["type"] == "loyalty.account.updated"


def test_it_changes_rotates_and_deletes(manager_client, subscription):
    old_key = subscription.signature_key
    manager_client.post(
        reverse("webhook", args=[subscription.pk]),
        {
            "name": "Till 2",
            "notification_url": subscription.notification_url,
            "event_types": ["loyalty.account.updated"],
        },
    )
    subscription.refresh_from_db()
    assert (subscription.name, subscription.enabled) == ("Till 2", False)
    response = manager_client.post(reverse("webhook-rotate", args=[subscription.pk]))
    subscription.refresh_from_db()
    assert subscription.signature_key != old_key and subscription.signature_key in response.text
    manager_client.post(reverse("webhook-delete", args=[subscription.pk]))
    assert not WebhookSubscription.objects.exists()


def test_agents_cannot_see_or_change_webhooks(agent_client, subscription):
    assert agent_client.get(reverse("webhooks")).status_code == 403
    assert agent_client.post(reverse("webhook-delete", args=[subscription.pk])).status_code == 403
    assert WebhookSubscription.objects.exists()


def test_unknown_ids_and_wrong_methods(manager_client, subscription):
    assert manager_client.get(reverse("webhook", args=["wbhk_nope"])).status_code == 404
    resend = reverse("webhook-resend", args=[subscription.pk, 999])
    assert manager_client.post(resend).status_code == 404
    assert manager_client.get(reverse("webhook-rotate", args=[subscription.pk])).status_code == 405
