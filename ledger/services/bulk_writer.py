"""Writing a checked bulk file: set-based SQL instead of row-by-row posting.

The result is exactly what `posting.append` would leave row by row (the same events,
balance_after chain, lots and consumptions, the same event times rule), but computed in memory
per chunk of rows and written with a few multi-row statements instead of four or five
single-row statements per row. No model instance is made on the way: the accounts and their
open lots are read as tuples, and rows are computed as tuples. On PostgreSQL they go in as COPY
text, and the lots and accounts are updated once at the end, each with one `UPDATE … FROM
unnest(…)`; elsewhere `bulk_create` and one UPDATE per row do the same.
"""

import bisect
import enum
import functools
import operator
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import isodate
from django.conf import settings
from django.db import connection
from django.db.models import F

from accounts.models import LoyaltyAccount, Program

from ..models import BulkBatch, LotConsumption, LoyaltyEvent, PointLot, Reason
from .actors import Actor
from .posting import advance, event_time
from .webhooks import notify_events

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


class BulkAccount:
    """What applying a bulk file reads of a locked account, from one row of one query; its
    balance, points earned and time of the newest event move as the rows are computed.
    It answers the attributes `rules` and `posting` read of a LoyaltyAccount."""

    __slots__ = (
        "pk",
        "program",
        "balance",
        "lifetime_points",
        "updated_at",
        "merged_into_id",
        "merged_into",
    )

    def __init__(self, pk, program, balance, lifetime_points, updated_at, merged_into_id):
        self.pk, self.program = pk, program
        self.balance, self.lifetime_points, self.updated_at = balance, lifetime_points, updated_at
        self.merged_into_id = merged_into_id
        self.merged_into: LoyaltyAccount | None = None  # read for closed accounts only

    @property
    def program_id(self) -> object:
        return self.program.pk

    @property
    def is_closed(self) -> bool:
        return self.merged_into_id is not None


# The columns `read_accounts` selects, in the order of BulkAccount's arguments after program.
_ACCOUNT_COLUMNS = ("id", "balance", "lifetime_points", "updated_at", "merged_into_id")


def read_accounts(
    program: Program, column: str, values: list[str], *, lock: bool
) -> Iterator[tuple[str, BulkAccount]]:
    """(value of `column`, account) for each account of `program` named by one of `values`;
    with `lock`, each row locked until the transaction ends, in the order of their ids (on
    PostgreSQL in one statement, `= ANY` of the values)."""
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(LoyaltyAccount._meta.db_table)
        with connection.cursor() as cursor:
            # The time as microseconds: read many times faster than a timestamp.
            cursor.execute(
                f"SELECT {column}, id, balance, lifetime_points, "
                "(extract(epoch FROM updated_at) * 1000000)::bigint, merged_into_id "
                f"FROM {table} WHERE program_id = %s AND {column} = ANY(%s) ORDER BY id"
                + (" FOR UPDATE" if lock else ""),
                [program.pk, values],
            )
            for value, pk, balance, lifetime, updated, merged_into in cursor.fetchall():
                updated_at = EPOCH + updated * MICROSECOND
                yield value, BulkAccount(pk, program, balance, lifetime, updated_at, merged_into)
        return
    ordered = sorted(values)
    for start in range(0, len(ordered), BULK_WRITE_ROWS):
        accounts = LoyaltyAccount.objects.filter(
            program=program, **{f"{column}__in": ordered[start : start + BULK_WRITE_ROWS]}
        )
        if lock:
            accounts = accounts.select_for_update(of=("self",)).order_by("pk")
        for value, pk, *fields in accounts.values_list(column, *_ACCOUNT_COLUMNS):
            yield value, BulkAccount(pk, program, *fields)


@dataclass(slots=True)
class BulkLine:
    """One checked row of a bulk file, ready to write."""

    line: int
    account: BulkAccount
    points: int
    reason: Reason
    history_title: str
    note: str
    visible_to_customer: bool


BULK_WRITE_ROWS = 1_000


def _micros(moment: datetime | None) -> int:
    """A time as whole microseconds since the epoch (0 for None), exactly."""
    return 0 if moment is None else (moment - EPOCH) // MICROSECOND


class _Lot:
    """A lot with points left, as `lots.open_lots` would return it, kept in memory (only
    what spending from it needs); or one made by the file (pk None until it has one)."""

    __slots__ = (
        "order",
        "pk",
        "remaining",
        "stored",
        "account_id",
        "event_id",
        "points",
        "expires_at",
        "created_at",
    )

    def __init__(self, pk, remaining, order, **made):
        self.pk, self.remaining, self.order = pk, remaining, order
        # What the database holds (None: not inserted yet).
        self.stored = remaining if pk is not None else None
        if made:
            self.account_id, self.event_id = made["account_id"], made["event_id"]
            self.points = made["points"]
            self.expires_at, self.created_at = made["expires_at"], made["created_at"]


# The lots' order is `lots.open_lots`': soonest expiry first, never-expiring last, then oldest,
# then id. An existing lot's order is (never, expiry, 0, its place in that order as read); a
# lot made here is (never, expiry, 1, how many were made before it): made later than every
# existing lot of its account (events' times only grow), it comes after those that expire when
# it does, and after the lots made before it.
_lot_order = operator.attrgetter("order")


def _load_open_lots(account_ids: list) -> dict[object, list[_Lot]]:
    """The open lots of these accounts, each account's in `lots.open_lots` order."""
    open_lots: dict[object, list[_Lot]] = {pk: [] for pk in account_ids}
    if connection.vendor == "postgresql":
        # Only numbers come back (the account as its place in the array, the expiry in
        # microseconds), which are read many times faster than uuids and timestamps.
        table = connection.ops.quote_name(PointLot._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT a.n, lot.id, lot.remaining, "
                "(extract(epoch FROM lot.expires_at) * 1000000)::bigint "
                f"FROM unnest(%s::uuid[]) WITH ORDINALITY AS a(account_id, n) "
                f"JOIN {table} AS lot ON lot.account_id = a.account_id AND lot.remaining > 0 "
                "ORDER BY a.n, lot.expires_at ASC NULLS LAST, lot.created_at, lot.id",
                [account_ids],
            )
            rows = cursor.fetchall()
        for place, (n, pk, remaining, expiry) in enumerate(rows):
            order = (expiry is None, expiry or 0, 0, place)
            open_lots[account_ids[n - 1]].append(_Lot(pk, remaining, order))
        return open_lots
    for start in range(0, len(account_ids), BULK_WRITE_ROWS):
        lots = (
            PointLot.objects.filter(
                account_id__in=account_ids[start : start + BULK_WRITE_ROWS], remaining__gt=0
            )
            .order_by(F("expires_at").asc(nulls_last=True), "created_at", "id")
            .values_list("account_id", "id", "remaining", "expires_at")
        )
        for place, (account_id, pk, remaining, expires_at) in enumerate(lots):
            order = (expires_at is None, _micros(expires_at), 0, place)
            open_lots[account_id].append(_Lot(pk, remaining, order))
    return open_lots


@functools.lru_cache(maxsize=4096)
def _copy_text(value: str) -> str:
    """A text value as COPY's text format writes it."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


_COPY_FORMAT: dict[type, Callable[[object], str]] = {
    str: _copy_text,
    int: str,
    bool: lambda v: "t" if v else "f",
    type(None): lambda v: "\\N",
    uuid.UUID: str,
    datetime: datetime.isoformat,
}


def _copy_value(value: object) -> str:
    """Any value of the types above, subclasses (choices) included."""
    if isinstance(value, enum.Enum):
        value = value.value
    for kind in (bool, int, str, uuid.UUID, datetime, type(None)):
        if isinstance(value, kind):
            return _COPY_FORMAT[kind](value)
    raise TypeError(f"COPY cannot write {type(value).__name__}")


def _insert_rows(model, columns: tuple[str, ...], rows: list[tuple], fixed: dict) -> list:
    """Insert rows of values for `columns` (attnames), each with the `fixed` values too: with
    COPY on PostgreSQL, with bulk_create elsewhere. Returns the ids bulk_create gave (None
    for each with COPY: the caller sets them first, or nothing refers to them)."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        objs = [model(**dict(zip(columns, row, strict=True)), **fixed) for row in rows]
        model.objects.bulk_create(objs, batch_size=BULK_WRITE_ROWS)
        return [obj.pk for obj in objs]
    names = [*columns, *fixed]
    table = connection.ops.quote_name(model._meta.db_table)
    quoted = ", ".join(connection.ops.quote_name(model._meta.get_field(n).column) for n in names)
    formats = _COPY_FORMAT
    tail = "".join("\t" + _copy_value(v) for v in fixed.values()) + "\n"
    try:
        text = "".join(["\t".join([formats[type(v)](v) for v in row]) + tail for row in rows])
    except KeyError:  # a subclass of one of the types: the slower way
        text = "".join(["\t".join([_copy_value(v) for v in row]) + tail for row in rows])
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy,
    ):
        copy.write(text)
    return [None] * len(rows)


def _allocate_ids(model, count: int) -> list[int | None]:
    """`count` fresh values of the model's id sequence (PostgreSQL), for rows that others refer
    to before they are inserted; None for each on other databases (bulk_create sets them)."""
    if connection.vendor != "postgresql" or not count:
        return [None] * count
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [model._meta.db_table, count],
        )
        return [row[0] for row in cursor.fetchall()]


def _update_rows(model, fields: tuple[str, ...], rows: list[tuple]) -> None:
    """UPDATE model SET fields... for each (pk, *values) row: on PostgreSQL one statement that
    joins the table to the rows passed as arrays, elsewhere one UPDATE per row."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        for pk, *values in rows:
            model.objects.filter(pk=pk).update(**dict(zip(fields, values, strict=True)))
        return
    table = connection.ops.quote_name(model._meta.db_table)
    pk = model._meta.pk
    types = [pk.db_type(connection)] + [
        model._meta.get_field(f).db_type(connection) for f in fields
    ]
    arrays = ", ".join(f"%s::{t}[]" for t in types)
    assignments = ", ".join(f"{f} = v.{f}" for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments} FROM unnest({arrays}) "
            f"AS v(pk, {', '.join(fields)}) WHERE t.{pk.column} = v.pk",
            [list(column) for column in zip(*rows, strict=True)],
        )


class _FullAccounts(dict):
    """The file's accounts as model instances, read when first asked for (only the webhook
    outbox needs them, to describe an account)."""

    def __init__(self, pks: list) -> None:
        super().__init__()
        self.pks = pks

    def __missing__(self, pk: object) -> LoyaltyAccount:
        pks, self.pks = self.pks, []
        for start in range(0, len(pks), BULK_WRITE_ROWS):
            self.update(LoyaltyAccount.objects.in_bulk(pks[start : start + BULK_WRITE_ROWS]))
        if pk not in self:
            raise KeyError(pk)
        return self[pk]


_LOT_COLUMNS = ("id", "account_id", "event_id", "points", "remaining", "expires_at", "created_at")
_EVENT_COLUMNS = (
    "id",
    "account_id",
    "points",
    "affects_lifetime",
    "balance_after",
    "lifetime_after",
    "created_at",
    "reason_id",
    "reason_text",
    "history_title",
    "note",
    "visible_to_customer",
)
_CONSUMPTION_COLUMNS = ("event_id", "lot_id", "points")


def write_lines(
    lines: list[BulkLine],
    *,
    batch: BulkBatch,
    actor: Actor,
    progress: Callable[[int], None] | None,
) -> None:
    """Append one ADJUST_POINTS event per checked line, in file order, to the locked accounts."""
    accounts = list({line.account.pk: line.account for line in lines}.values())
    open_lots = _load_open_lots(list({line.account.pk for line in lines if line.points < 0}))
    # Every lot in the database that this file may spend from, to write back what is left.
    tracked = [lot for queue in open_lots.values() for lot in queue]
    # lot_expiry, with each program's policy parsed once rather than once a row.
    policies = {
        a.program_id: isodate.parse_duration(a.program.expiration_policy)
        for a in accounts
        if a.program.expiration_policy
    }
    event_fixed = {
        "program_id": batch.program_id,
        "type": LoyaltyEvent.Type.ADJUST_POINTS.value,
        "source": actor.source,
        "actor_id": actor.operator.pk if actor.operator else None,
        "api_client_id": actor.api_client.pk if actor.api_client else None,
        "location_id": "",
        "batch_id": batch.pk,
    }
    full_accounts = _FullAccounts([a.pk for a in accounts])
    clock = functools.partial(datetime.now, UTC) if settings.USE_TZ else datetime.now
    for start in range(0, len(lines), BULK_WRITE_ROWS):
        events, lots, consumptions = [], [], []
        for line in lines[start : start + BULK_WRITE_ROWS]:
            account, points, reason = line.account, line.points, line.reason
            affects_lifetime = reason.affects_lifetime
            now = event_time(account, now=clock())
            balance_before = advance(
                account, points=points, affects_lifetime=affects_lifetime, now=now
            )
            event_id = uuid.uuid4()
            events.append(
                (
                    event_id,
                    account.pk,
                    points,
                    affects_lifetime,
                    account.balance,
                    account.lifetime_points,
                    now,
                    reason.pk,
                    reason.label,
                    line.history_title,
                    line.note,
                    line.visible_to_customer,
                )
            )
            if points > 0:
                # As `lots.update_lots`: only the part above zero is spendable.
                above_zero = max(0, balance_before + points) - max(0, balance_before)
                if above_zero > 0:
                    policy = policies.get(account.program_id)
                    expires_at = now + policy if policy is not None else None
                    lot = _Lot(
                        None,
                        above_zero,
                        (expires_at is None, _micros(expires_at), 1, len(tracked)),
                        account_id=account.pk,
                        event_id=event_id,
                        points=above_zero,
                        expires_at=expires_at,
                        created_at=now,
                    )
                    lots.append(lot)
                    queue = open_lots.get(account.pk)
                    if queue is not None:
                        bisect.insort(queue, lot, key=_lot_order)
                        tracked.append(lot)
                continue
            # As `lots.update_lots`: take from the first open lots; the emptied ones drop out.
            needed, queue, emptied = -points, open_lots[account.pk], 0
            for lot in queue:
                take = min(lot.remaining, needed)
                lot.remaining -= take
                consumptions.append((event_id, lot, take))
                needed -= take
                emptied += lot.remaining == 0
                if needed == 0:
                    break
            del queue[:emptied]
        _insert_rows(LoyaltyEvent, _EVENT_COLUMNS, events, event_fixed)
        notify_events(
            (
                LoyaltyEvent(**dict(zip(_EVENT_COLUMNS, event, strict=True)), **event_fixed)
                for event in events
            ),
            full_accounts,
        )
        for lot, pk in zip(lots, _allocate_ids(PointLot, len(lots)), strict=True):
            lot.pk = pk
        made = _insert_rows(
            PointLot,
            _LOT_COLUMNS,
            [
                (lot.pk, lot.account_id, lot.event_id, lot.points, lot.remaining)
                + (lot.expires_at, lot.created_at)
                for lot in lots
            ],
            {},
        )
        for lot, pk in zip(lots, made, strict=True):
            lot.pk = lot.pk if pk is None else pk  # the ids bulk_create gave
            lot.stored = lot.remaining
        _insert_rows(
            LotConsumption,
            _CONSUMPTION_COLUMNS,
            [(event_id, lot.pk, taken) for event_id, lot, taken in consumptions],
            {},
        )
        if progress is not None:
            progress(start + len(events))
    _update_rows(
        PointLot,
        ("remaining",),
        [(lot.pk, lot.remaining) for lot in tracked if lot.remaining != lot.stored],
    )
    _update_rows(
        LoyaltyAccount,
        ("balance", "lifetime_points", "updated_at"),
        [(a.pk, a.balance, a.lifetime_points, a.updated_at) for a in accounts],
    )
