"""On PostgreSQL, the identities a search reads (email, phone, customer id) are stored in the
"C" collation, so that one index per field serves both uniqueness and search.

Each of these fields had two indexes: the unique (program, field) constraint's, in the
database's collation, and a (program, field COLLATE "C", id) one (migration 0003) that gave a
prefix search its range and its order. In the "C" collation (byte order, which is code point
order for UTF-8) the unique index answers both, and also exact look-ups, so the second index
goes: a new or changed account writes three index entries fewer, and a seed builds three
indexes fewer. Equal strings are equal bytes in any deterministic collation, so which values
are unique does not change.

`lower()` in the "C" collation lowers ASCII letters only, as SQLite's does: the
`email_lowercase` check now means the same on both engines. Emails are lowered by the service
(`str.lower`) before they are stored, on both.

The collation is not in the models' state: SQLite has no "C" collation (its BINARY order is
the same byte order). A later `AlterField` of these fields on PostgreSQL would reset it;
`tests/accounts/test_search.py` fails if a column is not "C".

Changing a column's collation rebuilds the indexes on it under an ACCESS EXCLUSIVE lock of
the table: about 3 s for a million accounts.
"""

from django.db import migrations

TABLE = "accounts_loyaltyaccount"
SEARCH_INDEXES = {
    "email": "account_email_c",
    "phone": "account_phone_c",
    "customer_id": "account_custid_c",
}
BYTE_ORDER, DATABASE_ORDER = '"C"', '"default"'


def _collate(apps, schema_editor, collation: str) -> str:
    account = apps.get_model("accounts", "LoyaltyAccount")
    quote = schema_editor.quote_name
    return ", ".join(
        f"ALTER COLUMN {quote(field)} TYPE "
        f"{account._meta.get_field(field).db_type(schema_editor.connection)} COLLATE {collation}"
        for field in SEARCH_INDEXES
    )


def to_byte_order(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in SEARCH_INDEXES.values():
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    schema_editor.execute(f"ALTER TABLE {TABLE} {_collate(apps, schema_editor, BYTE_ORDER)}")


def to_database_order(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE {TABLE} {_collate(apps, schema_editor, DATABASE_ORDER)}")
    for field, name in SEARCH_INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS {name} ON {TABLE} (program_id, ({field} COLLATE "C"), id)'
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_pos_account_id"),
    ]

    operations = [
        migrations.RunPython(to_byte_order, to_database_order, elidable=False),
    ]
