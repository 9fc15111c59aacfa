"""Reads of the webhook subscriptions and their delivery log."""

from django.db.models import Count, Q, QuerySet

from ..models import WebhookNotification, WebhookSubscription

Status = WebhookNotification.Status
LOG_LENGTH = 50


def subscriptions_with_counts() -> QuerySet[WebhookSubscription]:
    return WebhookSubscription.objects.annotate(
        waiting=Count("notifications", filter=Q(notifications__status=Status.PENDING)),
        failed=Count("notifications", filter=Q(notifications__status=Status.FAILED)),
    ).order_by("created_at", "id")


def delivery_log(subscription: WebhookSubscription) -> list[WebhookNotification]:
    """The subscription's newest notifications, newest first."""
    return list(subscription.notifications.defer("body").order_by("-id")[:LOG_LENGTH])
