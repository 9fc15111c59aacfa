"""A lot's account is no longer indexed on its own.

Every read of lots by account is of the open ones, through the partial index
lot_open_by_expiry (account, expiry, created) where the lot is open; the plain index over
every lot ever made, most of them spent, had no reader left, yet each new lot wrote an entry
into it at a random place (the accounts' ids are random), and the seed built it over millions
of rows. The foreign key stays: only its index goes (the same name on both engines), without
checking every lot's account again or, on SQLite, copying the table.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "ledger_pointlot_account_id_f626473d"  # the name Django gave it


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_pos_account_id"),
        ("ledger", "0015_event_links_partial_unique"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {INDEX}",
                    reverse_sql=f"CREATE INDEX {INDEX} ON ledger_pointlot (account_id)",
                    elidable=False,
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="pointlot",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="lots",
                        to="accounts.loyaltyaccount",
                    ),
                ),
            ],
        ),
    ]
