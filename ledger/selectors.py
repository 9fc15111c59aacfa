"""Reads of the ledger."""

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import LoyaltyAccount, Program
from accounts.phones import InvalidPhoneNumber, normalize_phone
from loyalty_admin.pagination import KeysetPage, keyset_page

from .models import ApprovalRequest, LoyaltyEvent, PointLot, Reason

# What a history row shows besides the event itself: one join each instead of a query per row.
EVENT_DETAILS = (
    "reason",
    "actor",
    "api_client",
    "reverses",
    "reversed_by__actor",
    "approval_request__decided_by",
)


def account_history(
    *, account: LoyaltyAccount, cursor: str | None = None, limit: int = 25
) -> KeysetPage[LoyaltyEvent]:
    """An account's events, newest first, a page at a time."""
    events = LoyaltyEvent.objects.filter(account=account).select_related(*EVENT_DETAILS)
    return keyset_page(events, cursor=cursor, limit=limit)


@dataclass(frozen=True)
class Discrepancy:
    account_id: str
    problem: str


# Accounts whose cached balance or points earned differ from their events' sums.
_SUM_MISMATCH = """
SELECT a.id, a.balance, a.lifetime_points,
       COALESCE(SUM(e.points), 0),
       COALESCE(SUM(CASE WHEN e.affects_lifetime THEN e.points ELSE 0 END), 0)
FROM accounts_loyaltyaccount a
LEFT JOIN ledger_loyaltyevent e ON e.account_id = a.id
{where}
GROUP BY a.id, a.balance, a.lifetime_points
HAVING a.balance <> COALESCE(SUM(e.points), 0)
    OR a.lifetime_points <> COALESCE(SUM(CASE WHEN e.affects_lifetime THEN e.points ELSE 0 END), 0)
"""

# Events whose balance_after / lifetime_after do not follow from the previous event's.
_BROKEN_CHAIN = """
SELECT account_id, id FROM (
    SELECT account_id, id, points, affects_lifetime, balance_after, lifetime_after,
           LAG(balance_after, 1, 0) OVER w AS prev_balance,
           LAG(lifetime_after, 1, 0) OVER w AS prev_lifetime
    FROM ledger_loyaltyevent
    {where}
    WINDOW w AS (PARTITION BY account_id ORDER BY created_at, id)
) chain
WHERE balance_after <> prev_balance + points
   OR lifetime_after <> prev_lifetime + CASE WHEN affects_lifetime THEN points ELSE 0 END
"""


# Accounts whose open lots do not hold exactly their spendable points, max(balance, 0).
_LOTS_MISMATCH = """
SELECT a.id, a.balance, COALESCE(SUM(l.remaining), 0)
FROM accounts_loyaltyaccount a
LEFT JOIN ledger_pointlot l ON l.account_id = a.id
{where}
GROUP BY a.id, a.balance
HAVING COALESCE(SUM(l.remaining), 0) <> CASE WHEN a.balance > 0 THEN a.balance ELSE 0 END
"""


def ledger_discrepancies(*, accounts: QuerySet[LoyaltyAccount] | None = None) -> list[Discrepancy]:
    """Every breach of invariant 1 (DESIGN.md), and lots out of step with balances:
    empty when the ledger is consistent."""
    where_a, where_e, params = "", "", []
    if accounts is not None:
        ids = [
            str(pk) if connection.vendor == "postgresql" else pk.hex
            for pk in accounts.values_list("pk", flat=True)
        ]
        if not ids:
            return []
        marks = ", ".join(["%s"] * len(ids))
        where_a, where_e, params = f"WHERE a.id IN ({marks})", f"WHERE account_id IN ({marks})", ids
    found: list[Discrepancy] = []
    with connection.cursor() as cursor:
        cursor.execute(_SUM_MISMATCH.format(where=where_a), params)
        for account_id, balance, lifetime, points, earned in cursor.fetchall():
            found.append(
                Discrepancy(
                    str(uuid.UUID(str(account_id))),
                    f"balance {balance} / points earned {lifetime}, "
                    f"events sum to {points} / {earned}",
                )
            )
        cursor.execute(_LOTS_MISMATCH.format(where=where_a), params)
        for account_id, balance, in_lots in cursor.fetchall():
            found.append(
                Discrepancy(
                    str(uuid.UUID(str(account_id))),
                    f"balance {balance} but {in_lots} points in unexpired lots",
                )
            )
        cursor.execute(_BROKEN_CHAIN.format(where=where_e), params)
        for account_id, event_id in cursor.fetchall():
            found.append(
                Discrepancy(
                    str(uuid.UUID(str(account_id))), f"event {event_id} breaks the balance chain"
                )
            )
    return found


@dataclass(frozen=True)
class ExpiryDeadline:
    points: int
    expires_at: datetime


def upcoming_expirations(*, account: LoyaltyAccount, limit: int = 10) -> list[ExpiryDeadline]:
    """The account's unspent points that will expire, by day, soonest first."""
    by_day: dict[date, ExpiryDeadline] = {}
    open_lots = (
        PointLot.objects.filter(account=account, remaining__gt=0, expires_at__isnull=False)
        .order_by("expires_at")
        .values_list("remaining", "expires_at")
    )
    for remaining, expires_at in open_lots:
        day = expires_at.date()
        if day not in by_day and len(by_day) == limit:
            break
        earlier = by_day.get(day)
        by_day[day] = ExpiryDeadline(
            points=remaining + (earlier.points if earlier else 0),
            expires_at=earlier.expires_at if earlier else expires_at,
        )
    return list(by_day.values())


# --- History explorer (page, CSV export and API share these) --------------------------------


@dataclass(frozen=True)
class EventFilters:
    """What a manager narrows the history of all events to; None means "any"."""

    date_from: date | None = None
    date_to: date | None = None  # inclusive
    reason: Reason | None = None
    source: str | None = None
    operator_id: int | None = None
    api_client_prefix: str | None = None  # the key's public prefix
    customer: str | None = None  # email, phone, customer id or account id
    sign: str | None = None  # "added" or "removed"
    amount_min: int | None = None  # size of the change, whatever its sign
    amount_max: int | None = None


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _customer_accounts(program: Program, customer: str) -> QuerySet[LoyaltyAccount]:
    value = customer.strip()
    condition = Q(email=value.lower()) | Q(customer_id=value)
    with contextlib.suppress(ValueError):
        condition |= Q(pk=uuid.UUID(value))
    with contextlib.suppress(InvalidPhoneNumber):
        condition |= Q(phone=normalize_phone(value))
    return LoyaltyAccount.objects.filter(program=program).filter(condition)


def filter_events(*, program: Program, filters: EventFilters) -> QuerySet[LoyaltyEvent]:
    """The program's events that match every given filter (unordered)."""
    events = LoyaltyEvent.objects.filter(program=program)
    f = filters
    if f.date_from:
        events = events.filter(created_at__gte=_start_of(f.date_from))
    if f.date_to:
        events = events.filter(created_at__lt=_start_of(f.date_to + timedelta(days=1)))
    if f.reason is not None:
        events = events.filter(reason=f.reason)
    if f.source:
        events = events.filter(source=f.source)
    if f.operator_id is not None:
        events = events.filter(actor_id=f.operator_id)
    if f.api_client_prefix is not None:
        events = events.filter(api_client__prefix=f.api_client_prefix)
    if f.customer:
        events = events.filter(account__in=_customer_accounts(program, f.customer))
    if f.sign == "added":
        events = events.filter(points__gt=0)
    elif f.sign == "removed":
        events = events.filter(points__lt=0)
    if f.amount_min is not None:
        events = events.filter(Q(points__gte=f.amount_min) | Q(points__lte=-f.amount_min))
    if f.amount_max is not None:
        events = events.filter(points__lte=f.amount_max, points__gte=-f.amount_max)
    return events


def history_page(
    *, program: Program, filters: EventFilters, cursor: str | None = None, limit: int = 50
) -> KeysetPage[LoyaltyEvent]:
    """One page of the filtered events, newest first."""
    events = filter_events(program=program, filters=filters).select_related(
        "account", *EVENT_DETAILS
    )
    return keyset_page(events, cursor=cursor, limit=limit)


@dataclass(frozen=True)
class HistoryTotals:
    count: int
    added: int
    removed: int  # negative or zero

    @property
    def net(self) -> int:
        return self.added + self.removed


def history_totals(*, program: Program, filters: EventFilters) -> HistoryTotals:
    """Count and sums of the filtered events, in one aggregate query."""
    sums = filter_events(program=program, filters=filters).aggregate(
        count=Count("pk"),
        added=Sum("points", filter=Q(points__gt=0)),
        removed=Sum("points", filter=Q(points__lt=0)),
    )
    return HistoryTotals(
        count=sums["count"], added=sums["added"] or 0, removed=sums["removed"] or 0
    )


def points_by_day(*, program: Program, filters: EventFilters) -> dict:
    """Net points per day and reason, as a chart's labels and datasets."""
    rows = (
        filter_events(program=program, filters=filters)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "reason__label", "type")
        .annotate(points=Sum("points"))
        .order_by("day")
    )
    days: list[str] = []
    series: dict[str, dict[str, int]] = {}
    types = dict(LoyaltyEvent.Type.choices)
    for row in rows:
        day = row["day"].isoformat()
        if not days or days[-1] != day:
            days.append(day)
        label = (
            row["reason__label"] or types.get(row["type"], row["type"]).replace("_", " ").title()
        )
        by_day = series.setdefault(label, {})
        by_day[day] = by_day.get(day, 0) + row["points"]
    return {
        "labels": days,
        "datasets": [
            {"label": label, "data": [by_day.get(day, 0) for day in days]}
            for label, by_day in sorted(series.items())
        ],
    }


EXPORT_COLUMNS = (
    "event_id",
    "created_at",
    "account_id",
    "customer_id",
    "email",
    "type",
    "reason_code",
    "reason",
    "points",
    "balance_after",
    "history_title",
    "note",
    "visible_to_customer",
    "source",
    "operator",
    "api_client",
    "reverses",
)
_EXPORT_FIELDS = (
    "id",
    "created_at",
    "account_id",
    "account__customer_id",
    "account__email",
    "type",
    "reason__code",
    "reason_text",
    "points",
    "balance_after",
    "history_title",
    "note",
    "visible_to_customer",
    "source",
    "actor__email",
    "api_client__name",
    "reverses_id",
)


def export_rows(
    *, program: Program, filters: EventFilters, chunk_size: int = 2_000
) -> Iterator[tuple]:
    """Every filtered event as a tuple of EXPORT_COLUMNS, newest first, read a chunk at a time
    by keyset (created_at, id): memory stays flat however many events match, and each chunk
    is one indexed range query (never OFFSET)."""
    events = filter_events(program=program, filters=filters).order_by("-created_at", "-id")
    after: tuple[datetime, object] | None = None
    while True:
        chunk = events
        if after is not None:
            # The redundant `created_at <= t` bound lets the database range-scan the
            # (created_at, id) index instead of filtering it from the top for every chunk.
            chunk = chunk.filter(
                Q(created_at__lte=after[0]),
                Q(created_at__lt=after[0]) | Q(id__lt=after[1]),
            )
        rows = list(chunk.values_list(*_EXPORT_FIELDS)[:chunk_size])
        yield from rows
        if len(rows) < chunk_size:
            return
        after = (rows[-1][1], rows[-1][0])


# --- Approvals ------------------------------------------------------------------------------


def pending_approvals_count(*, program: Program) -> int:
    """How many requests wait for a manager (one COUNT on the partial pending index)."""
    return ApprovalRequest.objects.filter(
        program=program, status=ApprovalRequest.Status.PENDING
    ).count()


def approval_queue(
    *, program: Program, cursor: str | None = None, limit: int = 25
) -> KeysetPage[ApprovalRequest]:
    """Pending requests, oldest first: the longest-waiting customer comes first."""
    pending = ApprovalRequest.objects.filter(
        program=program, status=ApprovalRequest.Status.PENDING
    ).select_related("account", "reason", "requested_by")
    return keyset_page(pending, cursor=cursor, limit=limit, newest_first=False)


def recent_decisions(*, program: Program, limit: int = 10) -> list[ApprovalRequest]:
    return list(
        ApprovalRequest.objects.filter(program=program, decided_at__isnull=False)
        .select_related("account", "reason", "requested_by", "decided_by", "event")
        .order_by("-decided_at")[:limit]
    )


def account_approval_requests(*, account: LoyaltyAccount, limit: int = 10) -> list[ApprovalRequest]:
    """The account's requests, pending ones first, then the latest decided."""
    requests = ApprovalRequest.objects.filter(account=account).select_related(
        "reason", "requested_by", "decided_by", "event"
    )
    pending = list(
        requests.filter(status=ApprovalRequest.Status.PENDING).order_by("created_at", "id")
    )
    decided = list(
        requests.exclude(status=ApprovalRequest.Status.PENDING).order_by("-created_at", "-id")[
            : max(limit - len(pending), 3)
        ]
    )
    return pending + decided


@dataclass(frozen=True)
class HistoryOverview:
    page: KeysetPage[LoyaltyEvent]
    totals: HistoryTotals
    chart: dict


def history_overview(
    *, program: Program, filters: EventFilters, cursor: str | None = None, limit: int = 50
) -> HistoryOverview:
    """What the explorer shows for a set of filters: a page, the totals and the chart."""
    return HistoryOverview(
        page=history_page(program=program, filters=filters, cursor=cursor, limit=limit),
        totals=history_totals(program=program, filters=filters),
        chart=points_by_day(program=program, filters=filters),
    )
