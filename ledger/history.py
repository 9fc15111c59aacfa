"""Reads of the ledger's history as the APIs filter it (the console's filters are its own)."""

from datetime import datetime

import django_filters
from django.db.models import QuerySet

from loyalty_admin.pagination import KeysetPage, keyset_page

from .models import LoyaltyEvent

_RELATED = ("program", "reason", "actor", "api_client", "reverses", "reversed_by")


class EventFilter(django_filters.FilterSet):
    """GET /api/v1/events?account=&type=&source=&reason=&created_after=&created_before="""

    account = django_filters.UUIDFilter(field_name="account_id")
    type = django_filters.ChoiceFilter(choices=LoyaltyEvent.Type.choices)
    source = django_filters.ChoiceFilter(choices=LoyaltyEvent.Source.choices)
    reason = django_filters.CharFilter(field_name="reason__code", max_length=40)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = LoyaltyEvent
        fields: list[str] = []


def filtered_events(
    *, filterset: EventFilter, cursor: str | None, limit: int
) -> KeysetPage[LoyaltyEvent]:
    """Events matching a valid `filterset`, newest first, a page at a time."""
    return keyset_page(filterset.qs.select_related(*_RELATED), cursor=cursor, limit=limit)


def search_events(
    *,
    account_id: object | None = None,
    types: list[str] | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    location_ids: list[str] | None = None,
    order_id: str | None = None,
    cursor: str | None = None,
    limit: int = 30,
) -> KeysetPage[LoyaltyEvent]:
    """Square's SearchLoyaltyEvents: every given filter must hold; a list matches any value."""
    events: QuerySet[LoyaltyEvent] = LoyaltyEvent.objects.select_related(*_RELATED)
    if account_id is not None:
        events = events.filter(account_id=account_id)
    if types is not None:
        events = events.filter(type__in=types)
    if created_from is not None:
        events = events.filter(created_at__gte=created_from)
    if created_to is not None:
        events = events.filter(created_at__lte=created_to)
    if location_ids is not None:
        events = events.filter(location_id__in=location_ids)
    if order_id is not None:
        events = events.filter(order_id=order_id)
    return keyset_page(events, cursor=cursor, limit=limit)
