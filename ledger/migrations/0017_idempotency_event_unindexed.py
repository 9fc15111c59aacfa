"""An idempotency record's event is no longer indexed.

A record is read by its scope and key (the unique index) and its event through the record; no
query looks a record up by its event, and events are never deleted (append-only triggers), so
the index had no reader, yet every adjustment wrote an entry into it at a random place (the
events' ids are random): on the bench's database, the adjust transaction ran 5-7 % faster
without it. The foreign key stays: only its index goes (the same name on both engines),
without checking every record's event again or, on SQLite, copying the table.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "ledger_idempotencyrecord_event_id_001e0703"  # the name Django gave it


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0016_lot_account_unindexed"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {INDEX}",
                    reverse_sql=f"CREATE INDEX {INDEX} ON ledger_idempotencyrecord (event_id)",
                    elidable=False,
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="idempotencyrecord",
                    name="event",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="ledger.loyaltyevent",
                    ),
                ),
            ],
        ),
    ]
