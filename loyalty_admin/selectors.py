"""Reads on the operator side: the audit log, operators, API clients."""

from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from .models import ApiClient, AuditEntry
from .pagination import KeysetPage, keyset_page
from .roles import ROLES


def audit_log(
    *,
    action: str | None = None,
    actor: AbstractBaseUser | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> KeysetPage[AuditEntry]:
    """The audit entries that match, newest first, a page at a time."""
    entries = AuditEntry.objects.select_related("actor", "api_client")
    if action:
        entries = entries.filter(action=action)
    if actor is not None:
        entries = entries.filter(actor=actor)
    if date_from:
        entries = entries.filter(
            created_at__gte=timezone.make_aware(datetime.combine(date_from, time.min))
        )
    if date_to:
        end = timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min))
        entries = entries.filter(created_at__lt=end)
    return keyset_page(entries, cursor=cursor, limit=limit)


def operators() -> QuerySet:
    """Every console operator, active or not, by email, with their groups."""
    return (
        get_user_model()
        .objects.filter(groups__name__in=list(ROLES.values()))
        .distinct()
        .prefetch_related("groups")
        .order_by("email")
    )


def api_clients() -> QuerySet[ApiClient]:
    return ApiClient.objects.order_by("revoked", "-created")
