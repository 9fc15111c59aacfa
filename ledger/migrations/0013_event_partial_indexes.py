"""Index an event's actor, API client, batch and reward only where they are set.

Most events have none of them (an API adjustment has no actor, a console one no API client,
only bulk rows have a batch, only reward events a reward), so each full index was mostly
empty entries that every insert still wrote. The partial indexes answer the same look-ups
(`actor = …` implies the actor is set). On PostgreSQL the API client's second,
`varchar_pattern_ops` index, which no query used, goes too.

The database side swaps the indexes directly: on SQLite, Django would alter the fields by
rebuilding the table, which would drop the events' append-only triggers.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

FIELDS = ("actor", "api_client", "batch", "reward")


def _partial(name: str) -> models.Index:
    return models.Index(
        fields=[name], condition=models.Q(**{f"{name}__isnull": False}), name=f"event_{name}_set"
    )


def _full_indexes(schema_editor, model, column: str) -> list[str]:
    """The names of the plain (not unique) indexes on exactly this column."""
    with schema_editor.connection.cursor() as cursor:
        found = schema_editor.connection.introspection.get_constraints(cursor, model._meta.db_table)
    return sorted(
        name
        for name, about in found.items()
        if about["index"]
        and not about["unique"]
        and not about["primary_key"]
        and about["columns"] == [column]
    )


def to_partial(apps, schema_editor):
    model = apps.get_model("ledger", "LoyaltyEvent")
    for name in FIELDS:
        column = model._meta.get_field(name).column
        for index in _full_indexes(schema_editor, model, column):
            schema_editor.execute(schema_editor._delete_index_sql(model, index))
        schema_editor.add_index(model, _partial(name))


def to_full(apps, schema_editor):
    model = apps.get_model("ledger", "LoyaltyEvent")
    for name in FIELDS:
        field = model._meta.get_field(name)
        schema_editor.remove_index(model, _partial(name))
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))
        # PostgreSQL's second index on a text column, as Django makes it (none elsewhere).
        like_index = getattr(schema_editor, "_create_like_index_sql", lambda model, field: None)
        like = like_index(model, field)
        if like is not None:
            schema_editor.execute(like)


def _foreign_key(to, related_name: str) -> models.ForeignKey:
    return models.ForeignKey(
        blank=True,
        db_index=False,
        null=True,
        on_delete=django.db.models.deletion.PROTECT,
        related_name=related_name,
        to=to,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_pos_account_id"),
        ("ledger", "0012_webhooks"),
        ("loyalty_admin", "0003_audit_entries"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(to_partial, to_full, elidable=False)],
            state_operations=[
                migrations.AlterField(
                    model_name="loyaltyevent",
                    name="actor",
                    field=_foreign_key(settings.AUTH_USER_MODEL, "loyalty_events"),
                ),
                migrations.AlterField(
                    model_name="loyaltyevent",
                    name="api_client",
                    field=_foreign_key("loyalty_admin.apiclient", "loyalty_events"),
                ),
                migrations.AlterField(
                    model_name="loyaltyevent",
                    name="batch",
                    field=_foreign_key("ledger.bulkbatch", "events"),
                ),
                migrations.AlterField(
                    model_name="loyaltyevent",
                    name="reward",
                    field=_foreign_key("ledger.reward", "events"),
                ),
                *(
                    migrations.AddIndex(model_name="loyaltyevent", index=_partial(name))
                    for name in FIELDS
                ),
            ],
        ),
    ]
