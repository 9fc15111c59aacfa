"""Model instances from the rows of SQL composed by hand, built exactly as the ORM builds them.

The hot paths (an adjustment's account lock, a search) compose their SQL once per process from
the models' `_meta` rather than through a QuerySet on every call. The rows they read are turned
into values by the converters the ORM itself applies to those columns on this database, then
into instances by `Model.from_db`, so that what a caller gets cannot differ from a QuerySet's.
"""

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)

# (index of the value in the row, converter, the column it is called with)
Conversion = tuple[int, Any, Any]


def conversions(fields: Iterable[Field]) -> tuple[Conversion, ...]:
    """What the ORM applies to the values of these fields, in this order, read from this
    database (a foreign key's value is converted as its target's)."""
    found = []
    for i, field in enumerate(fields):
        column = field.get_col(field.model._meta.db_table)
        for converter in connection.ops.get_db_converters(column) + column.get_db_converters(
            connection
        ):
            found.append((i, converter, column))
    return tuple(found)


def converted(row: Sequence, steps: tuple[Conversion, ...]) -> list:
    """The row's values as the ORM would give them."""
    values = list(row)
    for i, converter, column in steps:
        values[i] = converter(values[i], column, connection)
    return values


def instance(model: type[M], values: Sequence) -> M:
    """A model instance, as loaded from this database, of converted values of all its
    concrete fields in their order."""
    return model.from_db(connection.alias, None, values)
