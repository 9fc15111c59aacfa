"""Events are append-only in the database itself, not only in model code."""

import pytest
from django.db import DatabaseError, connection, transaction

from ledger import services
from ledger.models import LoyaltyEvent

from ..conftest import postgres_only


@pytest.fixture
def event(account, reasons, manager):
    return services.adjust_points(
        account=account,
        points=10,
        reason=reasons["REWARD"],
        actor=services.Actor.of_operator(manager),
    ).event


def _table() -> str:
    return connection.ops.quote_name(LoyaltyEvent._meta.db_table)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE {table} SET points = 1000000",
        "UPDATE {table} SET note = 'edited'",
        "DELETE FROM {table}",
    ],
)
def test_raw_sql_cannot_change_or_remove_an_event(event, sql):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql.format(table=_table()))

    event.refresh_from_db()
    assert (event.points, event.note) == (10, "")


def test_queryset_update_and_delete_are_refused_too(event):
    with pytest.raises(DatabaseError), transaction.atomic():
        LoyaltyEvent.objects.filter(pk=event.pk).update(points=1)
    with pytest.raises(DatabaseError), transaction.atomic():
        LoyaltyEvent.objects.filter(pk=event.pk).delete()
    assert LoyaltyEvent.objects.get(pk=event.pk).points == 10


@postgres_only
def test_truncate_is_refused_on_postgresql(event):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        # The event was inserted in this test's transaction: settle its deferred foreign
        # key checks first, or PostgreSQL refuses TRUNCATE for that reason instead.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {_table()} CASCADE")
    assert LoyaltyEvent.objects.filter(pk=event.pk).exists()
