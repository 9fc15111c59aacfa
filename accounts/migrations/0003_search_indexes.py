"""Prefix search indexes that also give the order of results (accounts.selectors).

The varchar_pattern_ops indexes answered LIKE 'abc%' but not ORDER BY, so a short prefix on a
million accounts read and sorted every match. On PostgreSQL, an index on
(program_id, field COLLATE "C", id) answers both: the "C" collation makes LIKE 'abc%' an index
range, and the range comes out in the order the search returns. SQLite has no "C" collation;
there the unique (program, field) indexes, in byte order already, serve the same ranges.
"""

from django.db import migrations

FIELDS = {"email": "account_email_c", "phone": "account_phone_c", "customer_id": "account_custid_c"}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for field, name in FIELDS.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON accounts_loyaltyaccount "
            f'(program_id, ({field} COLLATE "C"), id)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in FIELDS.values():
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_program_accrual_rule"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="loyaltyaccount", name="account_email_prefix"),
        migrations.RemoveIndex(model_name="loyaltyaccount", name="account_phone_prefix"),
        migrations.RemoveIndex(model_name="loyaltyaccount", name="account_custid_prefix"),
        migrations.RunPython(create, drop, elidable=False),
    ]
