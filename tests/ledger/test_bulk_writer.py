"""The bulk writer's own pieces: what it sends to the database, and how."""

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger import services
from ledger.models import BulkBatch
from ledger.services import Actor
from ledger.services.bulk_writer import _array_text, _server_binding_cursor

from ..factories import AccountFactory

needs_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL arrays")


@needs_postgresql
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ([str(uuid.uuid4()), str(uuid.uuid4())], "uuid"),
        ([uuid.uuid4(), uuid.uuid4()], "uuid"),
        ([0, -7, 9_007_199_254_740_993], "bigint"),
        (
            [
                datetime(2026, 1, 31, 23, 59, 59, 999_999, tzinfo=UTC),
                datetime(1999, 12, 31, tzinfo=UTC),
            ],
            "timestamptz",
        ),
    ],
)
def test_an_array_text_reaches_the_database_as_the_same_values(values, kind):
    with _server_binding_cursor() as cursor:
        cursor.execute(f"SELECT unnest(%s::{kind}[])", [_array_text(values)])
        back = [row[0] for row in cursor.fetchall()]
    assert [str(v) for v in back] == [str(v) for v in values]


@pytest.mark.parametrize("value", ["a,b", "{x}", 'say "hi"', "back\\slash", "two words"])
def test_an_array_text_refuses_values_that_would_need_quoting(value):
    with pytest.raises(ValueError, match="numbers, uuids and times"):
        _array_text([value])


def test_an_empty_array_text_is_an_empty_array():
    assert _array_text([]) == "{}"


@pytest.mark.django_db
def test_applying_does_not_send_the_files_content_again(program, reasons, manager):
    AccountFactory(program=program, customer_id="C-1")
    content = "customer_id,points,reason\nC-1,25,REWARD\n"
    batch, check = services.upload_bulk_file(
        program=program, actor=Actor.of_operator(manager), filename="a.csv", data=content.encode()
    )
    assert not check.errors

    with CaptureQueriesContext(connection) as queries:
        services.apply_batch(batch=batch)

    batch_updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "ledger_bulkbatch"')]
    assert batch_updates, "the batch's status is written"
    assert not any('"content"' in sql for sql in batch_updates)
    batch.refresh_from_db()
    assert (batch.status, batch.rows_applied, batch.content) == (
        BulkBatch.Status.APPLIED,
        1,
        content,
    )
