"""The write path's statements, composed once per process from the models' own metadata.

Every adjustment locks its account, inserts its event, its lot and its idempotency record,
and updates the account. The ORM composes each of those statements afresh on every call,
which costs more CPU than the database spends running them. Here the same SQL is composed
once per model from `_meta` (so a migration that renames a column changes it too), and each
value is prepared by its own field, as `Model.save()` prepares it; rows read back are
converted by the same converters the ORM applies.

Only plain inserts, updates of named columns and the account lock are done here; like
`QuerySet.update()` and `bulk_create()`, they send no model signals (none is connected to
the ledger's models).

Inside `atomic()` on PostgreSQL, the inserts and updates are held and sent together, as one
statement (a `WITH` of each), when the block ends or just before any other statement runs on
the connection; each one's outcome (an auto id, the updated row's count) is applied then. An
adjustment's event, lot, balance and idempotency record so cost one round trip instead of
four, and the account's lock is held that much less. Elsewhere they are sent at once.
"""

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.db.models import Field, Model
from django.db.models.constants import OnConflict

from accounts.models import LoyaltyAccount
from loyalty_admin import rows

M = TypeVar("M", bound=Model)


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _connection():
    """The connection itself rather than `django.db.connection`, a proxy that looks the
    connection up again on every attribute read: each value a statement sends is prepared by
    its field with it, a few reads each, which through the proxy cost half the preparing."""
    return connections[DEFAULT_DB_ALIAS]


@functools.cache
def _insert(model: type[Model], vendor: str, skip_taken: bool) -> tuple[str, tuple[Field, ...]]:
    meta = model._meta
    fields = tuple(
        f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field
    )
    on_conflict = OnConflict.IGNORE if skip_taken else None
    sql = "{} {} ({}) VALUES ({}) {}".format(
        connection.ops.insert_statement(on_conflict=on_conflict),
        _quote(meta.db_table),
        ", ".join(_quote(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
        connection.ops.on_conflict_suffix_sql(fields, on_conflict, None, None),
    ).rstrip()
    if meta.auto_field is not None:
        if not connection.features.can_return_columns_from_insert:
            raise DatabaseError("This database cannot return the ids of the rows it inserts.")
        sql += f" RETURNING {_quote(meta.auto_field.column)}"
    return sql, fields


def insert(obj: M, *, if_taken: type[Exception] | None = None) -> M:
    """INSERT `obj` (a new instance) as `obj.save()` would, in one statement; an
    auto-incremented primary key is set on it (inside `atomic()`, when its writes are sent).

    `if_taken`: a row that a unique constraint refuses is not written and this exception is
    raised instead (inside `atomic()`, when its writes are sent, which undoes the block).
    Only for a model with an auto id, whose absence tells that the row was refused."""
    model = type(obj)
    auto = model._meta.auto_field
    if auto is not None and obj.pk is not None:
        raise ValueError(f"insert() makes the {model.__name__}'s id; this one has one.")
    if if_taken is not None and auto is None:
        raise ValueError(f"if_taken needs an auto id to tell; {model.__name__} has none.")
    db = _connection()
    sql, fields = _insert(model, db.vendor, if_taken is not None)
    values = [f.get_db_prep_save(f.pre_save(obj, True), db) for f in fields]
    obj._state.adding = False  # it is written, or the transaction fails
    obj._state.db = db.alias
    if auto is None:
        _write(db, _Write(sql, values, None, _nothing, (model._meta.db_table, obj.pk)))
        return obj

    def inserted(returned: object) -> None:
        if returned is None:
            raise if_taken()
        setattr(obj, auto.attname, returned)

    _write(db, _Write(sql, values, _RETURNED, inserted, None))
    return obj


@functools.cache
def _update(model: type[Model], names: tuple[str, ...], vendor: str) -> tuple[str, tuple]:
    meta = model._meta
    fields = tuple(meta.get_field(name) for name in names)
    sql = "UPDATE {} SET {} WHERE {} = %s".format(
        _quote(meta.db_table),
        ", ".join(f"{_quote(f.column)} = %s" for f in fields),
        _quote(meta.pk.column),
    )
    return sql, fields


def update(obj: Model, names: Sequence[str]) -> None:
    """`obj.save(update_fields=names)` in one statement: an UPDATE of those columns only.
    DatabaseError if the row is not there (inside `atomic()`, when its writes are sent)."""
    model = type(obj)
    db = _connection()
    held = _held_on(db)
    if obj.pk is None and held is not None:
        held.send()  # an auto id still to come back from a held insert
    sql, fields = _update(model, tuple(names), db.vendor)
    values = [f.get_db_prep_save(f.pre_save(obj, False), db) for f in fields]
    values.append(model._meta.pk.get_db_prep_value(obj.pk, db))

    def updated(count: int) -> None:
        if count != 1:
            raise DatabaseError(f"The {model.__name__} {obj.pk} to update is not there.")

    _write(db, _Write(sql, values, _COUNTED, updated, (model._meta.db_table, obj.pk)))


@functools.cache
def _lock_account(vendor: str) -> tuple[str, int, tuple[rows.Conversion, ...]]:
    account, program = LoyaltyAccount._meta, LoyaltyAccount.program.field.related_model._meta
    columns = [
        f"{_quote(meta.db_table)}.{_quote(f.column)}"
        for meta in (account, program)
        for f in meta.concrete_fields
    ]
    sql = "SELECT {} FROM {} INNER JOIN {} ON ({}.{} = {}.{}) WHERE {}.{} = %s".format(
        ", ".join(columns),
        _quote(account.db_table),
        _quote(program.db_table),
        _quote(program.db_table),
        _quote(program.pk.column),
        _quote(account.db_table),
        _quote(account.get_field("program").column),
        _quote(account.db_table),
        _quote(account.pk.column),
    )
    if connection.features.has_select_for_update:
        # OF the account only: the program row stays unlocked (see posting.lock).
        of = connection.features.has_select_for_update_of
        sql += f" FOR UPDATE OF {_quote(account.db_table)}" if of else " FOR UPDATE"
    fields = [*account.concrete_fields, *program.concrete_fields]
    return sql, len(account.concrete_fields), rows.conversions(fields)


def lock_account(pk: object) -> LoyaltyAccount | None:
    """The account row with its program, read with a row lock on the account (None: no
    such account); the SQL that `select_for_update(of=("self",)).select_related("program")`
    makes, with the instances the ORM would build."""
    db = _connection()
    sql, split, conversions = _lock_account(db.vendor)
    with db.cursor() as cursor:
        cursor.execute(sql, [LoyaltyAccount._meta.pk.get_db_prep_value(pk, db)])
        row = cursor.fetchone()
    if row is None:
        return None
    values = rows.converted(row, conversions)
    account = rows.instance(LoyaltyAccount, values[:split])
    program = rows.instance(LoyaltyAccount.program.field.related_model, values[split:])
    LoyaltyAccount.program.field.set_cached_value(account, program)
    return account


# What a write's statement gives back: the value its RETURNING names, or how many rows it
# changed; None for nothing.
_RETURNED, _COUNTED = "returned", "counted"


@dataclass(slots=True)
class _Write:
    sql: str
    params: list
    gives: str | None
    then: Callable[[object], None]  # called with what the statement gave back
    row: tuple | None  # (table, primary key) of the row it writes, when known beforehand


class _Held:
    """The writes held on one connection until they are sent together (see the module's
    docstring). Also the connection's execute wrapper: any other statement sends them first,
    so that nothing ever reads around a held write, in any order the code runs."""

    def __init__(self, db) -> None:
        self.db = db
        self.held: list[_Write] = []
        self.rows: set[tuple] = set()

    def add(self, write: _Write) -> None:
        # Two changes to one row in one statement would see the same snapshot, not each other.
        if write.row is not None and write.row in self.rows:
            self.send()
        self.held.append(write)
        if write.row is not None:
            self.rows.add(write.row)

    def send(self) -> None:
        held, self.held, self.rows = self.held, [], set()
        if len(held) == 1:
            _execute(self.db, held[0])
        elif held:
            with self.db.cursor() as cursor:
                cursor.execute(
                    _together(tuple((w.sql, w.gives) for w in held)),
                    [value for w in held for value in w.params],
                )
                gave = iter(cursor.fetchone())
            for write in held:
                write.then(next(gave) if write.gives else None)

    def __call__(self, execute, sql, params, many, context):
        if self.held:
            self.send()
        return execute(sql, params, many, context)


def _nothing(_: object) -> None:
    pass


_holding: contextvars.ContextVar[_Held | None] = contextvars.ContextVar(
    "statements_holding", default=None
)


@contextlib.contextmanager
def atomic() -> Iterator[None]:
    """`transaction.atomic()` whose inserts and updates (these, not the ORM's) are held and
    sent as one statement at its end, on PostgreSQL (elsewhere they go at once). Inside
    another such block it is a savepoint, and what is held goes out before the savepoint is
    made and before it is released, as before any other statement. If the block raises, what
    it held is dropped with the rest of its transaction (or savepoint)."""
    db = _connection()
    with transaction.atomic(using=db.alias):
        if db.vendor != "postgresql" or _holding.get() is not None:
            yield
            return
        held = _Held(db)
        token = _holding.set(held)
        try:
            with db.execute_wrapper(held):
                yield
                held.send()
        finally:
            _holding.reset(token)


def _held_on(db) -> _Held | None:
    """The writes held on this connection, if an `atomic()` block holds them."""
    held = _holding.get()
    return held if held is not None and held.db is db else None


def _write(db, write: _Write) -> None:
    held = _held_on(db)
    if held is not None:
        held.add(write)
    else:
        _execute(db, write)


def _execute(db, write: _Write) -> None:
    with db.cursor() as cursor:
        cursor.execute(write.sql, write.params)
        if write.gives == _RETURNED:
            row = cursor.fetchone()
            write.then(row[0] if row else None)
        else:
            write.then(cursor.rowcount if write.gives == _COUNTED else None)


@functools.lru_cache(maxsize=128)
def _together(writes: tuple[tuple[str, str | None], ...]) -> str:
    """One PostgreSQL statement running each write (a data-modifying WITH each), whose one
    row gives back, in order, what each write gives."""
    parts, gives = [], []
    for n, (sql, what) in enumerate(writes):
        if what == _COUNTED:
            parts.append(f"w{n} AS ({sql} RETURNING 1)")
            gives.append(f"(SELECT count(*) FROM w{n})")
        else:
            parts.append(f"w{n} AS ({sql})")
            if what == _RETURNED:
                gives.append(f"(SELECT * FROM w{n})")
    return "WITH {} SELECT {}".format(", ".join(parts), ", ".join(gives) or "1")
