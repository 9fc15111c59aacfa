"""Writing the demo's customers in bulk: chunks built in worker processes, written with COPY on
PostgreSQL (bulk_create elsewhere). Into empty tables on PostgreSQL, the secondary indexes,
unique constraints and foreign keys are dropped first and made again after the load, in the
same transaction, from their definitions in the catalog: one sort per index and one join per
foreign key instead of an index insertion and a trigger call per row. The foreign keys come
back `NOT VALID` (enforced on every new row at once) and the loaded rows are checked against
them after the commit, on several connections at a time."""

import multiprocessing
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import islice

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections

from accounts.models import LoyaltyAccount
from ledger.models import LotConsumption, LoyaltyEvent, PointLot, tally_events_sql
from ledger.selectors import reference_discrepancies

from .demo_data import (
    ACCOUNT_COLUMNS,
    BINARY_EPOCH,
    BINARY_HEADER,
    BINARY_TRAILER,
    CONSUMPTION_COLUMNS,
    EVENT_COLUMNS,
    LOT_COLUMNS,
    DemoChunk,
    DemoPlan,
    build_chunk,
)

# The tables a seed writes, in the order a chunk writes them.
SEEDED = (
    (LoyaltyAccount, ACCOUNT_COLUMNS, "accounts"),
    (LoyaltyEvent, EVENT_COLUMNS, "events"),
    (PointLot, LOT_COLUMNS, "lots"),
    (LotConsumption, CONSUMPTION_COLUMNS, "consumptions"),
)
SEEDED_MODELS = tuple(model for model, *_ in SEEDED)

# --- Building chunks --------------------------------------------------------------------------

_plan: DemoPlan | None = None  # the plan, for worker processes (inherited when they fork)


def _build(start: int, stop: int) -> DemoChunk:
    assert _plan is not None
    return build_chunk(_plan, start, stop)


def built_chunks(
    plan: DemoPlan, ranges: list[tuple[int, int]], workers: int
) -> Iterator[DemoChunk]:
    """The chunks, in order. With more than one chunk and worker, they are built in forked
    worker processes (which touch no database connection), a few chunks ahead of the caller."""
    global _plan
    if workers < 2 or len(ranges) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        for start, stop in ranges:
            yield build_chunk(plan, start, stop)
        return
    _plan = plan
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            waiting = iter(ranges)
            ahead = deque(pool.apply_async(_build, r) for r in islice(waiting, 2 * workers))
            while ahead:
                chunk = ahead.popleft().get()
                for r in islice(waiting, 1):
                    ahead.append(pool.apply_async(_build, r))
                yield chunk
    finally:
        _plan = None


# --- Writing chunks ---------------------------------------------------------------------------


def write_chunk(chunk: DemoChunk) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model, columns, part in SEEDED:
                data = getattr(chunk, part)
                if not data:
                    continue
                table = connection.ops.quote_name(model._meta.db_table)
                statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT binary)"
                with cursor.cursor.copy(statement) as copy:
                    copy.write(data)
        return
    for model, columns, part in SEEDED:
        instances = _binary_instances(model, columns, getattr(chunk, part))
        model.objects.bulk_create(instances, batch_size=2_000)


def _binary_instances(model, columns: list[str], data: bytes) -> Iterable:
    """COPY's binary format back into model instances (databases without COPY): each field's
    bytes read as its column's type (uuid, integer, boolean, time or text)."""
    fields = [model._meta.get_field(column) for column in columns]
    kinds = [_binary_kind(field) for field in fields]
    if not data:
        return
    assert data.startswith(BINARY_HEADER) and data.endswith(BINARY_TRAILER)
    at, end = len(BINARY_HEADER), len(data) - len(BINARY_TRAILER)
    while at < end:
        count = int.from_bytes(data[at : at + 2], "big")
        at += 2
        values = {}
        for field, kind in zip(fields, kinds[:count], strict=True):
            size = int.from_bytes(data[at : at + 4], "big", signed=True)
            at += 4
            value = None
            if size >= 0:
                value = _BINARY_READ[kind](data[at : at + size])
                at += size
            values[field.attname] = value
        yield model(**values)


def _binary_kind(field) -> str:
    field = field.target_field if field.is_relation else field
    kind = field.get_internal_type()
    if kind == "UUIDField":
        return "uuid"
    if kind == "BooleanField":
        return "boolean"
    if kind == "DateTimeField":
        return "time"
    if kind.endswith("IntegerField") or kind.endswith("AutoField"):
        return "integer"
    return "text"


_BINARY_EPOCH = datetime.fromtimestamp(BINARY_EPOCH, UTC)
_BINARY_READ = {
    "uuid": lambda data: uuid.UUID(bytes=data),
    "boolean": lambda data: data != b"\x00",
    "time": lambda data: (
        _BINARY_EPOCH + timedelta(microseconds=int.from_bytes(data, "big", signed=True))
    ),
    "integer": lambda data: int.from_bytes(data, "big", signed=True),
    "text": bytes.decode,
}


# --- Indexes and constraints after the load (PostgreSQL) ---------------------------------------


def tables_empty() -> bool:
    return not any(model.objects.exists() for model in SEEDED_MODELS)


def lock_if_empty() -> bool:
    """Inside a transaction: lock the seeded tables against every other session, and say
    whether they are (still) all empty."""
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in SEEDED_MODELS)
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
    return tables_empty()


_CONSTRAINTS = """
SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
FROM pg_constraint c
WHERE c.conrelid = ANY(%s::regclass[])
  AND (c.contype = 'f'
       OR c.contype = 'u' AND NOT EXISTS (
           SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid))
ORDER BY c.contype = 'u', 1, 2
"""
_INDEXES = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid
                  AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))
ORDER BY 1
"""


@contextmanager
def indexes_built_after_load(log=None) -> Iterator[list[tuple[str, str]]]:
    """Inside a transaction on PostgreSQL: drop the seeded tables' foreign keys, unique
    constraints (but those a foreign key relies on) and other secondary indexes; make them
    again, from the catalog's own definitions, when the block ends. Primary keys, checks and
    the append-only triggers stay. The block is given the foreign keys, as (table, name): they
    come back `NOT VALID`, for `validate_foreign_keys` to check the rows against; the schema
    is then the one the migrations made. The statement triggers of events, lots and
    consumptions are off during the load: the tallies of every loaded event are added in one
    statement after it, and the rows' references checked in one query a table
    (EVENT_REFERENCES). `log`, if given, is told how long each statement took."""
    tables = [model._meta.db_table for model in SEEDED_MODELS]
    quote = connection.ops.quote_name
    events = LoyaltyEvent._meta.db_table
    # The statement triggers that would keep each COPY's rows to read them again: the events'
    # tallies, added after the load, and the checks of references, made after it.
    triggers = [
        (quote(model._meta.db_table), trigger.get_pgid(model))
        for model in SEEDED_MODELS
        for trigger in getattr(model._meta, "triggers", [])
        if trigger.referencing
    ]
    with connection.cursor() as cursor:
        cursor.execute(_CONSTRAINTS, [tables])
        constraints = cursor.fetchall()  # foreign keys first
        cursor.execute(_INDEXES, [tables])
        indexes = cursor.fetchall()
        for table, name, _ in constraints:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}")
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
        for table, trigger in triggers:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
    foreign_keys = [
        (table, name) for table, name, definition in constraints if _is_foreign_key(definition)
    ]
    yield foreign_keys
    with connection.cursor() as cursor:
        # Index builds sort in memory (and in parallel workers) with this much.
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        statements = [
            *(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}" for table, trigger in triggers),
            # One aggregate over every loaded event, held in memory (a few hundred thousand
            # keys), compiled by no JIT: 5 s for 3M events, where the trigger would have
            # aggregated each chunk's COPY apart.
            "SET LOCAL work_mem = '256MB'",
            "SET LOCAL jit = off",
            tally_events_sql(events, "0"),
            *(definition for _, definition in indexes),
            # Statistics before the foreign keys are checked, so that checking one whose
            # column holds only nulls reads its index instead of the table.
            f"ANALYZE {', '.join(quote(t) for t in tables)}",
            *(
                f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}"
                + (" NOT VALID" if _is_foreign_key(definition) else "")
                for table, name, definition in reversed(constraints)  # unique ones first
            ),
        ]
        for statement in statements:
            _timed(cursor, statement, log)
    # What the triggers `references` would have checked, for every loaded row at once.
    started = time.monotonic()
    missing = reference_discrepancies()
    if log:
        log(f"{time.monotonic() - started:5.1f}s the loaded rows' references checked")
    if missing:
        raise IntegrityError("; ".join(missing))


_NOT_VALID = """
SELECT c.conrelid::regclass::text, c.conname
FROM pg_constraint c
WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype = 'f' AND NOT c.convalidated
ORDER BY 1, 2
"""


def foreign_keys_not_valid() -> list[tuple[str, str]]:
    """The seeded tables' foreign keys still `NOT VALID`: a seed stopped after its commit,
    before it had checked the rows against them."""
    with connection.cursor() as cursor:
        cursor.execute(_NOT_VALID, [[model._meta.db_table for model in SEEDED_MODELS]])
        return cursor.fetchall()


def validate_foreign_keys(
    foreign_keys: list[tuple[str, str]], *, side_by_side: bool, log=None
) -> None:
    """Check every row against foreign keys added `NOT VALID`, which marks them valid. Each
    check is a join over its whole table on one backend, so outside a transaction, with
    `side_by_side`, each table's keys run one after another on a connection of their own
    (validating locks its table against another validation of it), the tables with the most
    keys first. One connection per table, rather than one per core: a table's queue of checks
    is as long as its keys make it, and the cores share the queues' work (a 1M-account seed
    on 2 cores: 5.7-6.3 s of checks on 4 connections, 6.8-7.5 s on 2). Inside a transaction
    (a test's), they run in it, one by one."""
    by_table: dict[str, list[str]] = {}
    for table, name in foreign_keys:
        by_table.setdefault(table, []).append(name)
    jobs = sorted(by_table.items(), key=lambda job: -len(job[1]))
    if connection.in_atomic_block or not side_by_side or len(jobs) < 2:
        for table, names in jobs:
            _validate(connection, table, names, log)
        return

    def validate_on_own_connection(table: str, names: list[str]) -> None:
        try:
            _validate(connections[DEFAULT_DB_ALIAS], table, names, log)
        finally:
            connections.close_all()  # this thread's

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        for done in [pool.submit(validate_on_own_connection, *job) for job in jobs]:
            done.result()  # a failed check raises here, once the others have ended


def _validate(db, table: str, names: list[str], log) -> None:
    with db.cursor() as cursor:
        for name in names:
            _timed(
                cursor, f"ALTER TABLE {table} VALIDATE CONSTRAINT {db.ops.quote_name(name)}", log
            )


def _is_foreign_key(definition: str) -> bool:
    return definition.startswith("FOREIGN KEY")


def _timed(cursor, statement: str, log: Callable[[str], None] | None) -> None:
    started = time.monotonic()
    cursor.execute(statement)
    if log:
        log(f"{time.monotonic() - started:5.1f}s {' '.join(statement.split())}")
