"""Writing a checked bulk file: set-based SQL instead of row-by-row posting.

The result is exactly what `posting.append` would leave row by row (the same events,
balance_after chain, lots and consumptions, the same event times rule), but computed in memory
and written with a few statements instead of four or five single-row statements per row. No
model instance is made on the way: the accounts and their open lots are read as plain values
(uuids and timestamps, slow to read, come back as text and numbers), and rows are computed as
tuples. On PostgreSQL the events go to one COPY, a thousand rows at a time, while the next
thousand are computed; then the lots and consumptions, one COPY each (sorted by account and by
lot), and one `UPDATE … FROM unnest(…)` each for the lots that existed before and for the
accounts. The customers' names to lock travel as a binary list; ids, numbers and times as the
text of one array each. Elsewhere `bulk_create` and one UPDATE per row do the same.
"""

import bisect
import enum
import functools
import gc
import operator
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import isodate
import psycopg
from django.conf import settings
from django.db import connection
from django.db.models import F

from accounts.models import LoyaltyAccount, Program
from loyalty_admin.planner import join_methods_off

from ..models import BulkBatch, LotConsumption, LoyaltyEvent, PointLot, Reason
from .actors import Actor
from .posting import advance, event_time
from .webhooks import notify_events

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


_pauses = {"count": 0, "was_enabled": False}
_pauses_lock = threading.Lock()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while the block runs (in any thread). Reading
    and computing a file's hundreds of thousands of rows would otherwise set it off every few
    hundred new objects, each time walking more of them: most of the time of those steps.
    Their objects hold no cycles (nothing is left for it to find), and it runs again after."""
    with _pauses_lock:
        if _pauses["count"] == 0:
            _pauses["was_enabled"] = gc.isenabled()
            gc.disable()
        _pauses["count"] += 1
    try:
        yield
    finally:
        with _pauses_lock:
            _pauses["count"] -= 1
            if _pauses["count"] == 0 and _pauses["was_enabled"]:
                gc.enable()


class BulkAccount:
    """What applying a bulk file reads of a locked account, from one row of one query; its
    balance, points earned and time of the newest event move as the rows are computed.
    It answers the attributes `rules` and `posting` read of a LoyaltyAccount. On PostgreSQL
    its pk is the id as text, which is hashed, compared, sorted (in the uuid's own order) and
    written many times faster than a UUID."""

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


def _server_binding_cursor():
    """A cursor on the connection (PostgreSQL) that sends its parameters apart from the
    statement (server-side binding), `%b` ones in the binary format: a list of fifty thousand
    strings goes four to ten times faster so than spelled out as a text literal, as Django's
    client-side binding does, and a long `%s` text is sent as it is, not escaped into the
    statement. Django's wrapper stays around it (query logging, execute wrappers)."""
    connection.ensure_connection()
    cursor = psycopg.Cursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)


def _array_text(values) -> str:
    """Values that need no quoting in an array (numbers, uuids, times) as the text of one
    PostgreSQL array, for a `%s::type[]` parameter: joined at C speed and parsed by the
    server, where a list is dumped value by value in Python."""
    values = list(values)
    if values and isinstance(values[0], datetime):
        values = [v.isoformat() for v in values]
    text = ",".join(map(str, values))
    if not _ARRAY_SAFE.fullmatch(text) or text.count(",") != max(len(values) - 1, 0):
        raise ValueError("Only numbers, uuids and times can be passed as array text.")
    return "{" + text + "}"


_ARRAY_SAFE = re.compile(r"[0-9a-fA-F:.+T,-]*")


_first = operator.itemgetter(0)


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
        with _server_binding_cursor() as cursor:
            # The time as microseconds: read many times faster than a timestamp.
            cursor.execute(
                f"SELECT {column}, id::text, balance, lifetime_points, "
                "(extract(epoch FROM updated_at) * 1000000)::bigint, merged_into_id "
                f"FROM {table} WHERE program_id = %s AND {column} = ANY(%b) ORDER BY id"
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
_lot_account = operator.attrgetter("account_id")
_consumed_lot = operator.itemgetter(1)


def _load_open_lots(account_ids: list) -> dict[object, list[_Lot]]:
    """The open lots of these accounts, each account's in `lots.open_lots` order."""
    open_lots: dict[object, list[_Lot]] = {pk: [] for pk in account_ids}
    if connection.vendor == "postgresql":
        # Text and numbers come back (the account's id as text, as the accounts' pks are, and
        # the expiry in microseconds), which are read many times faster than uuids and times.
        table = connection.ops.quote_name(PointLot._meta.db_table)
        with _server_binding_cursor() as cursor:
            cursor.execute(
                "SELECT account_id::text, id, remaining, "
                "(extract(epoch FROM expires_at) * 1000000)::bigint "
                f"FROM {table} WHERE is_open AND account_id = ANY(%s::uuid[]) "
                "ORDER BY account_id, expires_at ASC NULLS LAST, created_at, id",
                [_array_text(account_ids)],
            )
            rows = cursor.fetchall()
        for place, (account_id, pk, remaining, expiry) in enumerate(rows):
            order = (expiry is None, expiry or 0, 0, place)
            open_lots[account_id].append(_Lot(pk, remaining, order))
        return open_lots
    for start in range(0, len(account_ids), BULK_WRITE_ROWS):
        lots = (
            PointLot.objects.filter(
                account_id__in=account_ids[start : start + BULK_WRITE_ROWS], is_open=True
            )
            .order_by(F("expires_at").asc(nulls_last=True), "created_at", "id")
            .values_list("account_id", "id", "remaining", "expires_at")
        )
        for place, (account_id, pk, remaining, expires_at) in enumerate(lots):
            order = (expires_at is None, _micros(expires_at), 0, place)
            open_lots[account_id].append(_Lot(pk, remaining, order))
    return open_lots


# The hex digit that starts a version 7 id's fourth group: its variant bits (10) and two
# random bits, from any random hex digit.
_VARIANT = {f"{n:x}": "89ab"[n & 3] for n in range(16)}


def _event_ids(count: int) -> list[str]:
    """`count` new event ids, time-ordered: UUIDs of version 7 (RFC 9562: the time in
    milliseconds, then 74 random bits), as text. A file's events then go to the end of the
    primary key's index, and the lots and consumptions that refer to them find them there,
    instead of each touching a page anywhere in the index, as random (version 4) ids do."""
    millis = f"{time.time_ns() // 1_000_000:012x}"
    head, variant = f"{millis[:8]}-{millis[8:]}-7", _VARIANT
    digits = os.urandom(10 * count).hex()
    return [
        f"{head}{r[:3]}-{variant[r[3]]}{r[4:7]}-{r[7:19]}"
        for r in (digits[start : start + 20] for start in range(0, 20 * count, 20))
    ]


def _copy_text(value: str) -> str:
    """A text value as COPY's text format writes it."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return value


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


def _event_copy_lines(events: list[tuple], tail: str) -> str:
    """Events (in `_EVENT_COLUMNS` order, the account's id as text) in COPY's text format, one
    f-string a row: several times faster than formatting them value by value."""
    text = _copy_text
    return "".join(
        [
            f"{pk}\t{account}\t{points}\t{'t' if lifetime else 'f'}\t{balance}\t{earned}\t"
            f"{created.isoformat()}\t{reason}\t{text(label)}\t{text(title)}\t{text(note)}\t"
            f"{'t' if visible else 'f'}{tail}"
            for (
                pk,
                account,
                points,
                lifetime,
                balance,
                earned,
                created,
                reason,
                label,
                title,
                note,
                visible,
            ) in events
        ]
    )


def _copy_lines(rows: list[tuple], tail: str) -> str:
    """Rows in COPY's text format, each ending with `tail` (its fixed values and newline)."""
    formats = _COPY_FORMAT
    try:
        return "".join(["\t".join([formats[type(v)](v) for v in row]) + tail for row in rows])
    except KeyError:  # a subclass of one of the types: the slower way
        return "".join(["\t".join([_copy_value(v) for v in row]) + tail for row in rows])


@contextmanager
def _inserting(
    model, columns: tuple[str, ...], fixed: dict, lines: Callable = _copy_lines
) -> Iterator[Callable]:
    """A function that inserts rows of values for `columns` (attnames), each with the `fixed`
    values too, and returns the ids bulk_create gave (None for each with COPY: the caller sets
    them first, or nothing refers to them). On PostgreSQL all the calls write to one COPY, so
    the database stores the rows while the next ones are computed (`lines` formats them);
    elsewhere each calls bulk_create."""
    if connection.vendor != "postgresql":

        def create(rows: list[tuple]) -> list:
            objs = [model(**dict(zip(columns, row, strict=True)), **fixed) for row in rows]
            model.objects.bulk_create(objs, batch_size=BULK_WRITE_ROWS)
            return [obj.pk for obj in objs]

        yield create
        return
    names = [*columns, *fixed]
    table = connection.ops.quote_name(model._meta.db_table)
    quoted = ", ".join(connection.ops.quote_name(model._meta.get_field(n).column) for n in names)
    tail = "".join("\t" + _copy_value(v) for v in fixed.values()) + "\n"
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy,
    ):

        def write(rows: list[tuple]) -> list:
            copy.write(lines(rows, tail))
            return [None] * len(rows)

        yield write


def _insert_rows(model, columns: tuple[str, ...], rows: list[tuple], fixed: dict) -> list:
    """Insert rows (see `_inserting`), a thousand at a time: on PostgreSQL the database stores
    each thousand while the next is formatted, instead of waiting for the whole text."""
    made: list = []
    if rows:
        with _inserting(model, columns, fixed) as insert:
            for start in range(0, len(rows), BULK_WRITE_ROWS):
                made += insert(rows[start : start + BULK_WRITE_ROWS])
    return made


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
    rows = sorted(rows, key=_first)  # in the order of the primary key's index
    table = connection.ops.quote_name(model._meta.db_table)
    pk = model._meta.pk
    types = [pk.db_type(connection)] + [
        model._meta.get_field(f).db_type(connection) for f in fields
    ]
    arrays = ", ".join(f"%s::{t}[]" for t in types)
    assignments = ", ".join(f"{f} = v.{f}" for f in fields)
    # Each row found through the primary key: from a few thousand rows up the planner would
    # rather read the whole table to join it by hash, which takes longer the larger the table
    # is, whereas the file's rows are few of it. For this statement only.
    with _server_binding_cursor() as cursor, join_methods_off(cursor, "hashjoin", "mergejoin"):
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments} FROM unnest({arrays}) "
            f"AS v(pk, {', '.join(fields)}) WHERE t.{pk.column} = v.pk",
            [_array_text(column) for column in zip(*rows, strict=True)],
        )


class _FullAccounts(dict):
    """The file's accounts as model instances by id as text, read when first asked for (only
    the webhook outbox needs them, to describe an account); asked for by id or by its text."""

    def __init__(self, pks: list) -> None:
        super().__init__()
        self.pks = pks

    def __missing__(self, pk: object) -> LoyaltyAccount:
        pks, self.pks = self.pks, []
        for start in range(0, len(pks), BULK_WRITE_ROWS):
            found = LoyaltyAccount.objects.in_bulk(pks[start : start + BULK_WRITE_ROWS])
            self.update((str(key), account) for key, account in found.items())
        account = self.get(str(pk))
        if account is None:
            raise KeyError(pk)
        return account


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


def _expiry(policy: timedelta | isodate.Duration) -> Callable[[datetime], datetime]:
    """`lots.lot_expiry` for one program's policy: `earned_at + policy`. A policy in months
    moves the date and keeps the time of day, so what it adds is the same for every time of
    one day: worked out once a day rather than once a lot."""
    by_day: dict[object, timedelta] = {}

    def expires(earned_at: datetime) -> datetime:
        day = earned_at.date()
        added = by_day.get(day)
        if added is None:
            midnight = earned_at.replace(hour=0, minute=0, second=0, microsecond=0)
            added = by_day[day] = (midnight + policy) - midnight
        return earned_at + added

    return expires


def write_lines(
    lines: list[BulkLine],
    *,
    batch: BulkBatch,
    actor: Actor,
    progress: Callable[[int], None] | None,
) -> None:
    """Append one ADJUST_POINTS event per checked line, in file order, to the locked accounts.

    The events are computed a thousand rows at a time and written as they are (one COPY on
    PostgreSQL); the lots they make and the points they take from lots are kept in memory
    and written after them, each lot with what is left of it at the end of the file."""
    accounts = list({line.account.pk: line.account for line in lines}.values())
    open_lots = _load_open_lots(list({line.account.pk for line in lines if line.points < 0}))
    # Every lot in the database that this file may spend from, to write back what is left.
    stored = [lot for queue in open_lots.values() for lot in queue]
    # lot_expiry, with each program's policy parsed once rather than once a row.
    programs = {a.program_id: a.program for a in accounts}
    policies = {
        pk: _expiry(isodate.parse_duration(program.expiration_policy))
        for pk, program in programs.items()
        if program.expiration_policy
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
    clock = functools.partial(datetime.now, UTC) if settings.USE_TZ else datetime.now
    events, lots, consumptions = [], [], []
    with _inserting(LoyaltyEvent, _EVENT_COLUMNS, event_fixed, _event_copy_lines) as insert_events:
        for start in range(0, len(lines), BULK_WRITE_ROWS):
            chunk = lines[start : start + BULK_WRITE_ROWS]
            for line, event_id in zip(chunk, _event_ids(len(chunk)), strict=True):
                account, points, reason = line.account, line.points, line.reason
                affects_lifetime = reason.affects_lifetime
                now = event_time(account, now=clock())
                balance_before = advance(
                    account, points=points, affects_lifetime=affects_lifetime, now=now
                )
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
                        expiry = policies.get(account.program_id)
                        expires_at = expiry(now) if expiry is not None else None
                        lot = _Lot(
                            None,
                            above_zero,
                            (expires_at is None, _micros(expires_at), 1, len(lots)),
                            account_id=account.pk,
                            event_id=event_id,
                            points=above_zero,
                            expires_at=expires_at,
                            created_at=now,
                        )
                        lots.append(lot)
                        queue = open_lots.get(account.pk)
                        if queue is None:
                            pass
                        elif not queue or queue[-1].order < lot.order:
                            queue.append(lot)  # the usual case: it expires last
                        else:
                            bisect.insort(queue, lot, key=_lot_order)
                    continue
                # As `lots.update_lots`: take from the first open lots; the emptied ones drop.
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
            insert_events(events[start:])
            if progress is not None:
                progress(len(events))
    _notify(events, event_fixed, [a.pk for a in accounts])
    # The lots in the order of their accounts (each account's still in file order), and the
    # consumptions in the order of their lots: the indexes keyed by account (open lots) and by
    # lot, and the foreign key checks at commit, then visit each page once, in order, rather
    # than as the file's customers come.
    lots.sort(key=_lot_account)
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
        if pk is not None:
            lot.pk = pk  # the id bulk_create gave
    _insert_rows(
        LotConsumption,
        _CONSUMPTION_COLUMNS,
        sorted(
            [(event_id, lot.pk, taken) for event_id, lot, taken in consumptions],
            key=_consumed_lot,
        ),
        {},
    )
    _update_rows(
        PointLot,
        ("remaining",),
        [(lot.pk, lot.remaining) for lot in stored if lot.remaining != lot.stored],
    )
    _update_rows(
        LoyaltyAccount,
        ("balance", "lifetime_points", "updated_at"),
        [(a.pk, a.balance, a.lifetime_points, a.updated_at) for a in accounts],
    )


def _notify(events: list[tuple], fixed: dict, account_ids: list) -> None:
    """The webhook outbox rows of the events (as `posting.append` writes them), a thousand
    events at a time. With no subscription that wants them, no model instance is made."""
    accounts = _FullAccounts(account_ids)
    for start in range(0, len(events), BULK_WRITE_ROWS):
        notify_events(
            (
                LoyaltyEvent(**dict(zip(_EVENT_COLUMNS, event, strict=True)), **fixed)
                for event in events[start : start + BULK_WRITE_ROWS]
            ),
            accounts,
        )
