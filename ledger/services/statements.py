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
"""

import functools
from collections.abc import Sequence
from typing import TypeVar

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.models import Field, Model

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
def _insert(model: type[Model], vendor: str) -> tuple[str, tuple[Field, ...]]:
    meta = model._meta
    fields = tuple(
        f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field
    )
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        _quote(meta.db_table),
        ", ".join(_quote(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
    )
    if meta.auto_field is not None and connection.features.can_return_columns_from_insert:
        sql += f" RETURNING {_quote(meta.auto_field.column)}"
    return sql, fields


def insert(obj: M) -> M:
    """INSERT `obj` (a new instance) as `obj.save()` would, in one statement; an
    auto-incremented primary key is set on it."""
    model = type(obj)
    auto = model._meta.auto_field
    if auto is not None and obj.pk is not None:
        raise ValueError(f"insert() makes the {model.__name__}'s id; this one has one.")
    db = _connection()
    sql, fields = _insert(model, db.vendor)
    values = [f.get_db_prep_save(f.pre_save(obj, True), db) for f in fields]
    with db.cursor() as cursor:
        cursor.execute(sql, values)
        if auto is not None:
            returned = cursor.fetchone() if cursor.description else None
            setattr(obj, auto.attname, returned[0] if returned else cursor.lastrowid)
    obj._state.adding = False
    obj._state.db = db.alias
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
    """`obj.save(update_fields=names)` in one statement: an UPDATE of those columns only."""
    model = type(obj)
    db = _connection()
    sql, fields = _update(model, tuple(names), db.vendor)
    values = [f.get_db_prep_save(f.pre_save(obj, False), db) for f in fields]
    values.append(model._meta.pk.get_db_prep_value(obj.pk, db))
    with db.cursor() as cursor:
        cursor.execute(sql, values)
        if cursor.rowcount != 1:
            raise DatabaseError(f"The {model.__name__} {obj.pk} to update is not there.")


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
