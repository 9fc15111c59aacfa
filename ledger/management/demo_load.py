"""Writing the demo's customers in bulk: chunks built in worker processes, written with COPY on
PostgreSQL (bulk_create elsewhere). Into empty tables on PostgreSQL, the secondary indexes,
unique constraints and foreign keys are dropped first and made again after the load, in the
same transaction, from their definitions in the catalog: one sort per index and one join per
foreign key instead of an index insertion and a trigger call per row."""

import multiprocessing
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import islice

from django.db import connection

from accounts.models import LoyaltyAccount
from ledger.models import LotConsumption, LoyaltyEvent, PointLot

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
def indexes_built_after_load(log=None) -> Iterator[None]:
    """Inside a transaction on PostgreSQL: drop the seeded tables' foreign keys, unique
    constraints (but those a foreign key relies on) and other secondary indexes; make them
    again, from the catalog's own definitions, when the block ends. Primary keys, checks and
    triggers stay. The schema afterwards is the one the migrations made. `log`, if given, is
    told how long each one took."""
    tables = [model._meta.db_table for model in SEEDED_MODELS]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(_CONSTRAINTS, [tables])
        constraints = cursor.fetchall()  # foreign keys first
        cursor.execute(_INDEXES, [tables])
        indexes = cursor.fetchall()
        for table, name, _ in constraints:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}")
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
    yield
    with connection.cursor() as cursor:
        # Index builds sort in memory (and in parallel workers) with this much.
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        statements = [
            *(definition for _, definition in indexes),
            # Statistics before the foreign keys, so that checking one whose column holds
            # only nulls reads its index instead of the table.
            f"ANALYZE {', '.join(quote(t) for t in tables)}",
            *(
                f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}"
                for table, name, definition in reversed(constraints)  # unique ones first
            ),
        ]
        for statement in statements:
            started = time.monotonic()
            cursor.execute(statement)
            if log:
                log(f"{time.monotonic() - started:5.1f}s {statement}")
