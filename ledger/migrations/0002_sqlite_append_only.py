"""Append-only events on SQLite: the database refuses UPDATE and DELETE of an event.

PostgreSQL gets the same rule from django-pgtrigger (LoyaltyEvent.Meta.triggers).
"""

from django.db import migrations

TRIGGERS = {
    "ledger_event_no_update": "UPDATE",
    "ledger_event_no_delete": "DELETE",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for name, operation in TRIGGERS.items():
        schema_editor.execute(
            f"CREATE TRIGGER {name} BEFORE {operation} ON ledger_loyaltyevent "
            f"BEGIN SELECT RAISE(ABORT, 'loyalty events are append-only: {operation} refused'); END"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for name in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
