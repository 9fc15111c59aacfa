"""Spending part of a lot becomes a HOT update (PostgreSQL).

The open-lot indexes were partial on `remaining > 0`, so every change of `remaining` counted
as a change of an indexed column: each spend wrote a new entry in all five of the lot's
indexes. They are now partial on `is_open`, a column the database computes from `remaining`;
a spend that leaves points in the lot changes no indexed value. The lots' pages keep room
(fillfactor 90, set before the new column rewrites the table) for the new row version to stay
on the same page, where PostgreSQL links it without touching any index.
"""

from django.db import migrations, models


def set_fillfactor(value: int):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE ledger_pointlot SET (fillfactor = {value})")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_pos_account_id"),
        ("ledger", "0013_event_partial_indexes"),
    ]

    operations = [
        migrations.RunPython(set_fillfactor(90), set_fillfactor(100), elidable=False),
        migrations.RemoveIndex(
            model_name="pointlot",
            name="lot_open_by_expiry",
        ),
        migrations.RemoveIndex(
            model_name="pointlot",
            name="lot_open_expiring",
        ),
        migrations.AddField(
            model_name="pointlot",
            name="is_open",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Q(("remaining__gt", 0)),
                output_field=models.BooleanField(),
            ),
        ),
        migrations.AddIndex(
            model_name="pointlot",
            index=models.Index(
                condition=models.Q(("is_open", True)),
                fields=["account", "expires_at", "created_at"],
                name="lot_open_by_expiry",
            ),
        ),
        migrations.AddIndex(
            model_name="pointlot",
            index=models.Index(
                condition=models.Q(("is_open", True)),
                fields=["expires_at"],
                name="lot_open_expiring",
            ),
        ),
    ]
