"""An event's `reverses` and `counterpart` are unique only where set (PostgreSQL).

Each is a one-to-one link that almost no event has (only reversals reverse, only the halves
of transfers and merges have a counterpart), yet a UNIQUE constraint indexes every row, NULLs
included: two index entries that every event wrote for nothing, and two indexes the size of
the primary key's. A unique index over the rows where the link is set keeps the rule (an event
is reversed at most once, a half has one counterpart: NULLs never clashed) and finds the same
rows (`reverses_id = …` implies it is set).

The models still declare one-to-one fields, which is what they are; only the index behind the
rule changes. SQLite keeps its UNIQUE column constraints: they are part of its table, which
only a rebuild could change, and a rebuild would drop the events' append-only triggers.
"""

from django.db import migrations

COLUMNS = ("reverses_id", "counterpart_id")
TABLE = "ledger_loyaltyevent"


def _index(column: str) -> str:
    return f"event_{column.removesuffix('_id')}_once"


def _unique_constraints(schema_editor, column: str) -> list[str]:
    with schema_editor.connection.cursor() as cursor:
        found = schema_editor.connection.introspection.get_constraints(cursor, TABLE)
    return sorted(
        name
        for name, about in found.items()
        if about["unique"] and not about["primary_key"] and about["columns"] == [column]
    )


def to_partial(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        for name in _unique_constraints(schema_editor, column):
            schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT {name}")
        schema_editor.execute(
            f"CREATE UNIQUE INDEX {_index(column)} ON {TABLE} ({column}) WHERE {column} IS NOT NULL"
        )


def to_full(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX {_index(column)}")
        # The name Django gives a one-to-one field's constraint.
        schema_editor.execute(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_{column}_key UNIQUE ({column})"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0014_lot_open_flag"),
    ]

    operations = [migrations.RunPython(to_partial, to_full, elidable=False)]
