"""Leave room in the accounts' pages so that balance updates are HOT updates (PostgreSQL).

Every adjustment updates its account's balance, points earned and updated_at, none of them
indexed. With full pages (fillfactor 100, as a COPY-loaded table is) each update writes a new
entry in all eight of the table's indexes; with free space on the page PostgreSQL keeps the new
row version on the same page and touches no index ("heap-only tuple").
"""

from django.db import migrations


def set_fillfactor(value: int):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE accounts_loyaltyaccount SET (fillfactor = {value})")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_search_indexes"),
    ]

    operations = [
        migrations.RunPython(set_fillfactor(80), set_fillfactor(100), elidable=False),
    ]
