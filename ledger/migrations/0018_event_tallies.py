"""Tallies of events (EventTally), kept by the database as events are written, and filled from
the events already written.

PostgreSQL adds a statement's events to their tallies in a statement-level trigger (on the
model, django-pgtrigger); SQLite in the row trigger made here. The tallies of the events
written before are added once the trigger is in place, in the same transaction, whose lock on
the events keeps writers out until both are done.
"""

import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

from ledger.models import TALLY_COUNTS, TALLY_KEY, tally_events_sql, tally_period_sql

KEY = f"{TALLY_KEY}, writer"
COLUMNS = f"{KEY}, {', '.join(TALLY_COUNTS)}"


SQLITE_TRIGGER = (
    "CREATE TRIGGER ledger_event_tally AFTER INSERT ON ledger_loyaltyevent BEGIN "
    f"INSERT INTO ledger_eventtally ({COLUMNS}) VALUES (NEW.program_id, "
    f"{tally_period_sql('NEW.created_at', 'sqlite')}, COALESCE(NEW.reason_id, 0), NEW.type, "
    "NEW.source, 0, 1, NEW.points > 0, MAX(NEW.points, 0), NEW.points < 0, MIN(NEW.points, 0)) "
    f"ON CONFLICT ({KEY}) DO UPDATE SET "
    + ", ".join(f"{c} = {c} + excluded.{c}" for c in TALLY_COUNTS)
    + "; END"
)
SQLITE_FILL = (
    f"INSERT INTO ledger_eventtally ({COLUMNS}) "
    f"SELECT program_id, {tally_period_sql('created_at', 'sqlite')}, COALESCE(reason_id, 0), "
    "type, source, 0, count(*), "
    "sum(points > 0), sum(CASE WHEN points > 0 THEN points ELSE 0 END), "
    "sum(points < 0), sum(CASE WHEN points < 0 THEN points ELSE 0 END) "
    "FROM ledger_loyaltyevent GROUP BY 1, 2, 3, 4, 5"
)


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    # Sent without parameters: the SQLite statements have % signs.
    with schema_editor.connection.cursor() as cursor:
        if vendor == "sqlite":
            cursor.execute(SQLITE_TRIGGER)
            cursor.execute(SQLITE_FILL)
        elif vendor == "postgresql":
            cursor.execute(tally_events_sql("ledger_loyaltyevent", "0"))


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS ledger_event_tally")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_identities_in_byte_order"),
        ("ledger", "0017_idempotency_event_unindexed"),
    ]

    operations = [
        migrations.CreateModel(
            name="EventTally",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "period",
                    models.DateTimeField(help_text="The start of the quarter hour, in UTC."),
                ),
                ("reason_key", models.BigIntegerField()),
                ("type", models.CharField(max_length=20)),
                ("source", models.CharField(max_length=20)),
                ("writer", models.IntegerField(default=0)),
                ("count", models.BigIntegerField()),
                ("added_count", models.BigIntegerField()),
                ("added", models.BigIntegerField()),
                ("removed_count", models.BigIntegerField()),
                ("removed", models.BigIntegerField()),
            ],
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="loyaltyevent",
            trigger=pgtrigger.compiler.Trigger(
                name="tally",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="\n    INSERT INTO ledger_eventtally (program_id, period, reason_key, type, source, writer,\n                                   count, added_count, added, removed_count, removed)\n    SELECT program_id, date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00Z'),\n           COALESCE(reason_id, 0), type, source, pg_backend_pid(),\n           count(*),\n           count(*) FILTER (WHERE points > 0), COALESCE(sum(points) FILTER (WHERE points > 0), 0),\n           count(*) FILTER (WHERE points < 0), COALESCE(sum(points) FILTER (WHERE points < 0), 0)\n    FROM written\n    GROUP BY 1, 2, 3, 4, 5\n    ORDER BY 1, 2, 3, 4, 5\n    ON CONFLICT (program_id, period, reason_key, type, source, writer) DO UPDATE SET\n    count = ledger_eventtally.count + EXCLUDED.count, added_count = ledger_eventtally.added_count + EXCLUDED.added_count, added = ledger_eventtally.added + EXCLUDED.added, removed_count = ledger_eventtally.removed_count + EXCLUDED.removed_count, removed = ledger_eventtally.removed + EXCLUDED.removed;\n RETURN NULL;",
                    hash="cf4d268d2bcc409c0de90852a415a83ccaec1e59",
                    level="STATEMENT",
                    operation="INSERT",
                    pgid="pgtrigger_tally_de268",
                    referencing="REFERENCING NEW TABLE AS written ",
                    table="ledger_loyaltyevent",
                    when="AFTER",
                ),
            ),
        ),
        migrations.AddField(
            model_name="eventtally",
            name="program",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="accounts.program",
            ),
        ),
        migrations.AddConstraint(
            model_name="eventtally",
            constraint=models.UniqueConstraint(
                fields=("program", "period", "reason_key", "type", "source", "writer"),
                name="tally_key",
            ),
        ),
        migrations.RunPython(create, drop, elidable=False),
    ]
