"""The one way to read events.

Every reader — an account's page, the history explorer and its CSV export, the native API's
event lists, Square's SearchLoyaltyEvents and Yotpo's customer history — says *which* events it
wants as an `EventQuery` and reads them through `matching_events` (or a function built on it),
so a filter means the same thing on every face and a new one is written once.
"""

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Literal

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import LoyaltyAccount, Program
from accounts.phones import InvalidPhoneNumber, normalize_phone
from ledger.models import TALLY_COUNTS, EventTally, LoyaltyEvent, Reason
from loyalty_admin.pagination import KeysetPage, keyset_page

# What a history row shows besides the event itself, read with the page instead of a query
# per row. The reason and the reward's tier are joined in; the rest is read in one query per
# relation for the whole page (a forward one only when a row on the page has one: a page of
# API adjustments reads its clients, not its operators). PostgreSQL's planning
# time grows fast with the tables in a statement: joining all of them (a dozen) took 23 ms to
# plan and 1.5 ms to run, seven tables 3.8 ms to plan, five 0.6 ms.
EVENT_JOINS = ("reason", "reward__tier")
EVENT_PREFETCHES = (
    "actor",
    "api_client",
    "reverses",
    "reversed_by__actor",
    "approval_request__decided_by",
)


@dataclass(frozen=True)
class Shown:
    """What a reader shows of each event besides its own columns: the relations joined into
    the page's statement and those read in one query each for the whole page. A face that
    shows less (an API's JSON) reads less; none reads a relation per row."""

    joins: tuple[str, ...] = ()
    prefetches: tuple[str, ...] = ()

    def read(self, events: QuerySet[LoyaltyEvent]) -> QuerySet[LoyaltyEvent]:
        # Only with names: a bare select_related() joins every foreign key that cannot be null
        # (the account and both programs, for an event).
        if self.joins:
            events = events.select_related(*self.joins)
        if self.prefetches:
            events = events.prefetch_related(*self.prefetches)
        return events


# A console history row: the account's page.
HISTORY_ROW = Shown(EVENT_JOINS, EVENT_PREFETCHES)
# The explorer's row also names the customer.
EXPLORER_ROW = Shown(("account", *EVENT_JOINS), EVENT_PREFETCHES)


def with_details(events: QuerySet[LoyaltyEvent], *joins: str) -> QuerySet[LoyaltyEvent]:
    """`events` with what a history row shows (HISTORY_ROW), plus `joins`."""
    return Shown((*joins, *EVENT_JOINS), EVENT_PREFETCHES).read(events)


@dataclass(frozen=True)
class EventQuery:
    """Which events: every field that is set narrows the result; None means "any".

    A tuple field matches any of its values, so an empty tuple matches nothing (Square's type
    filter naming only types this ledger never records finds no events, as in Square).
    """

    program: Program | None = None
    account_id: uuid.UUID | None = None
    types: tuple[str, ...] | None = None
    source: str | None = None
    reason: Reason | None = None
    reason_code: str | None = None  # the code, in whichever program it belongs to
    created_from: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive
    created_until: datetime | None = None  # inclusive (Square's end_at)
    operator_id: int | None = None
    api_client_prefix: str | None = None  # the key's public prefix
    # Email, phone, customer id or account id; within `program` when it is set.
    customer: str | None = None
    sign: Literal["added", "removed"] | None = None
    amount_min: int | None = None  # size of the change, whatever its sign
    amount_max: int | None = None
    location_ids: tuple[str, ...] | None = None
    order_id: str | None = None


def _customer_accounts(*, program: Program | None, customer: str) -> QuerySet[LoyaltyAccount]:
    """The accounts a customer's identity names. Each identity is unique only within a
    program, hence the scope."""
    value = customer.strip()
    condition = Q(email=value.lower()) | Q(customer_id=value)
    with contextlib.suppress(ValueError):
        condition |= Q(pk=uuid.UUID(value))
    with contextlib.suppress(InvalidPhoneNumber):
        condition |= Q(phone=normalize_phone(value))
    accounts = LoyaltyAccount.objects.filter(condition)
    return accounts.filter(program=program) if program is not None else accounts


def matching_events(*, query: EventQuery) -> QuerySet[LoyaltyEvent]:
    """The events that match every set field of `query`, unordered: callers order (and page)
    by (created_at, id), the order the indexes give."""
    q = query
    events = LoyaltyEvent.objects.all()
    if q.program is not None:
        events = events.filter(program=q.program)
    if q.account_id is not None:
        events = events.filter(account_id=q.account_id)
    if q.types is not None:
        events = events.filter(type__in=q.types)
    if q.source is not None:
        events = events.filter(source=q.source)
    if q.reason is not None:
        events = events.filter(reason=q.reason)
    if q.reason_code is not None:
        events = events.filter(reason__code=Reason.normalize_code(q.reason_code))
    if q.created_from is not None:
        events = events.filter(created_at__gte=q.created_from)
    if q.created_before is not None:
        events = events.filter(created_at__lt=q.created_before)
    if q.created_until is not None:
        events = events.filter(created_at__lte=q.created_until)
    if q.operator_id is not None:
        events = events.filter(actor_id=q.operator_id)
    if q.api_client_prefix is not None:
        events = events.filter(api_client__prefix=q.api_client_prefix)
    if q.customer is not None:
        events = events.filter(
            account__in=_customer_accounts(program=q.program, customer=q.customer)
        )
    if q.sign == "added":
        events = events.filter(points__gt=0)
    elif q.sign == "removed":
        events = events.filter(points__lt=0)
    if q.amount_min is not None:
        events = events.filter(Q(points__gte=q.amount_min) | Q(points__lte=-q.amount_min))
    if q.amount_max is not None:
        events = events.filter(points__lte=q.amount_max, points__gte=-q.amount_max)
    if q.location_ids is not None:
        events = events.filter(location_id__in=q.location_ids)
    if q.order_id is not None:
        events = events.filter(order_id=q.order_id)
    return events


def event_page(
    *,
    query: EventQuery,
    cursor: str | None = None,
    limit: int = 50,
    shown: Shown = EXPLORER_ROW,
) -> KeysetPage[LoyaltyEvent]:
    """One page of the matching events, newest first, by keyset (never OFFSET), with what
    the caller's rows show (`shown`) read with it, so that rendering a page costs no query
    per row."""
    return keyset_page(shown.read(matching_events(query=query)), cursor=cursor, limit=limit)


def account_history(
    *,
    account: LoyaltyAccount,
    cursor: str | None = None,
    limit: int = 25,
    shown: Shown = HISTORY_ROW,
) -> KeysetPage[LoyaltyEvent]:
    """An account's events, newest first, a page at a time. Every row is this account's, so
    a console row does not join the account in."""
    events = matching_events(query=EventQuery(account_id=account.pk))
    return keyset_page(shown.read(events), cursor=cursor, limit=limit)


@dataclass(frozen=True)
class HistoryTotals:
    count: int
    added: int
    removed: int  # negative or zero

    @property
    def net(self) -> int:
        return self.added + self.removed


@dataclass(frozen=True)
class HistorySummary:
    totals: HistoryTotals
    chart: dict


# What the tallies (EventTally) keep of an event, and so the filters they can answer.
_TALLIED = frozenset({"program", "created_from", "created_before", "reason", "source", "sign"})
QUARTER_HOUR = 15 * 60


def _tallies_answer(query: EventQuery) -> bool:
    """Whether the tallies give `query`'s summary: it filters by nothing they do not keep,
    its bounds are whole quarter hours, and the current time zone's offset at them is too
    (every zone's is today), so that a quarter hour falls within one of its days."""
    if any(getattr(query, f.name) is not None for f in fields(query) if f.name not in _TALLIED):
        return False
    bounds = [b for b in (query.created_from, query.created_before) if b is not None]
    zone = timezone.get_current_timezone()
    return all(b.timestamp() % QUARTER_HOUR == 0 for b in bounds) and all(
        b.astimezone(zone).utcoffset().total_seconds() % QUARTER_HOUR == 0
        for b in bounds or [timezone.now()]
    )


def _rows_from_tallies(query: EventQuery, zone) -> list[dict]:
    """The summary's rows (a day, a reason's label, a type, a count and sums) from the tallies
    of the query's quarter hours, with the reasons' labels read in one more query."""
    q, tallies = query, EventTally.objects.all()
    if q.program is not None:
        tallies = tallies.filter(program=q.program)
    if q.created_from is not None:
        tallies = tallies.filter(period__gte=q.created_from)
    if q.created_before is not None:
        tallies = tallies.filter(period__lt=q.created_before)
    if q.reason is not None:
        tallies = tallies.filter(reason_key=q.reason.pk)
    if q.source is not None:
        tallies = tallies.filter(source=q.source)
    rows = list(
        tallies.annotate(day=TruncDate("period", tzinfo=zone))
        .values("day", "reason_key", "type")
        .annotate(**{f"sum_{c}": Sum(c) for c in TALLY_COUNTS})
        .order_by("day")
    )
    labels = dict(
        Reason.objects.filter(pk__in={row["reason_key"] for row in rows}).values_list("pk", "label")
    )
    shown = []
    for row in rows:
        count, added, removed = row["sum_count"], row["sum_added"], row["sum_removed"]
        if q.sign == "added":
            count, removed = row["sum_added_count"], 0
        elif q.sign == "removed":
            count, added = row["sum_removed_count"], 0
        if count:
            label = labels.get(row["reason_key"])
            shown.append(
                {**row, "label": label, "count": count, "added": added, "removed": removed}
            )
    return shown


def _rows_from_events(query: EventQuery, zone) -> list[dict]:
    """The summary's rows from every matching event."""
    return [
        {**row, "label": row["reason__label"]}
        for row in matching_events(query=query)
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values("day", "reason__label", "type")
        .annotate(
            count=Count("pk"),
            added=Sum("points", filter=Q(points__gt=0), default=0),
            removed=Sum("points", filter=Q(points__lt=0), default=0),
        )
        .order_by("day")
    ]


def history_summary(*, query: EventQuery) -> HistorySummary:
    """The explorer's totals and chart for a query: the count and sums of the matching events,
    and their net points per day (in the current time zone) and reason, as a chart's labels
    and datasets. Both come from one aggregate query, grouped by day, reason and type: over
    the tallies (EventTally, a few rows per quarter hour; then the reasons' labels) when they
    keep every filter of the query, else over the matching events. The explorer asks for
    them apart from its page of events, which shows first."""
    zone = timezone.get_current_timezone()
    if _tallies_answer(query):
        rows = _rows_from_tallies(query, zone)
    else:
        rows = _rows_from_events(query, zone)
    count = added = removed = 0
    days: list[str] = []
    series: dict[str, dict[str, int]] = {}
    types = dict(LoyaltyEvent.Type.choices)
    for row in rows:
        count, added, removed = count + row["count"], added + row["added"], removed + row["removed"]
        day = row["day"].isoformat()
        if not days or days[-1] != day:
            days.append(day)
        label = row["label"] or types.get(row["type"], row["type"]).replace("_", " ").title()
        by_day = series.setdefault(label, {})
        by_day[day] = by_day.get(day, 0) + row["added"] + row["removed"]
    chart = {
        "labels": days,
        "datasets": [
            {"label": label, "data": [by_day.get(day, 0) for day in days]}
            for label, by_day in sorted(series.items())
        ],
    }
    return HistorySummary(
        totals=HistoryTotals(count=count, added=added, removed=removed), chart=chart
    )


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
    # Transfers and merges: the other half of the pair, its account, and points earned moved.
    "counterpart",
    "counterpart_account_id",
    "earned_moved",
    "reward_id",
    "reward_tier",
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
    "counterpart_id",
    "counterpart__account_id",
    "earned_moved",
    "reward_id",
    "reward__tier__name",
)


def export_rows(*, query: EventQuery, chunk_size: int = 2_000) -> Iterator[tuple]:
    """Every matching event as a tuple of EXPORT_COLUMNS, newest first, read a chunk at a time
    by keyset (created_at, id): memory stays flat however many events match, and each chunk
    is one indexed range query (never OFFSET)."""
    events = matching_events(query=query).order_by("-created_at", "-id")
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
