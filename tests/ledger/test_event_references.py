"""An event's program, reason, operator and batch exist for as long as the event does.

On PostgreSQL one trigger checks all the rows of a statement at once (EVENT_REFERENCES), and
the four tables refuse to lose a row that an event names; SQLite keeps foreign keys."""

import io
import threading
import uuid

import pgtrigger
import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.utils import timezone

from accounts.models import Program
from ledger.models import EVENT_REFERENCES, BulkBatch, LoyaltyEvent, Reason
from ledger.selectors import reference_discrepancies

from ..conftest import postgres_only
from ..factories import AccountFactory
from ..review.conftest import event_row

pytestmark = pytest.mark.django_db

MISSING = {"program_id": uuid.uuid4(), "reason_id": 987654, "actor_id": 987654}


@pytest.fixture
def batch(program, manager):
    return BulkBatch.objects.create(
        program=program,
        uploaded_by=manager,
        filename="named.csv",
        content="customer_id,points,reason\n",
        sha256="0" * 64,
        status=BulkBatch.Status.APPLIED,
    )


@pytest.fixture
def named(program, reasons, manager, batch):
    """An event that names a program, a reason, an operator and a batch."""
    event = event_row(
        AccountFactory(program=program),
        25,
        timezone.now(),
        reason=reasons["REWARD"],
        actor=manager,
        batch=batch,
        source=LoyaltyEvent.Source.BULK_IMPORT,
    )
    event.save()
    return event


def test_the_references_are_the_foreign_keys_of_events():
    """The trigger's list names each field's own table, so that it checks what the foreign key
    it replaces would have."""
    for column, table in EVENT_REFERENCES:
        field = next(f for f in LoyaltyEvent._meta.concrete_fields if f.column == column)
        assert field.related_model._meta.db_table == table


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("column", ["program_id", "reason_id", "actor_id", "batch_id"])
def test_an_event_that_names_a_missing_row_is_refused(column, program, reasons, manager):
    account = AccountFactory(program=program)
    missing = MISSING.get(column, uuid.uuid4())
    row = event_row(account, 5, timezone.now(), reason=reasons["REWARD"], actor=manager)
    setattr(row, column, missing)

    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        good = event_row(account, 7, timezone.now(), reason=reasons["REWARD"], actor=manager)
        LoyaltyEvent.objects.bulk_create([good, row])  # one statement, one bad row

    if connection.vendor == "postgresql":
        assert f"loyalty event names {column} {missing}, which does not exist" in str(refused.value)
    assert not LoyaltyEvent.objects.filter(account=account).exists()


def _execute(sql: str, params=()) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _named_rows(named) -> list[tuple[str, object]]:
    return [
        ("accounts_program", named.program_id),
        ("ledger_reason", named.reason_id),
        ("auth_user", named.actor_id),
        ("ledger_bulkbatch", named.batch_id),
    ]


@postgres_only
def test_a_row_that_an_event_names_cannot_be_deleted_or_renumbered(named):
    for table, pk in _named_rows(named):
        with pytest.raises(IntegrityError, match=f"DELETE refused: loyalty events name {table}"):
            _execute(f"DELETE FROM {table} WHERE id = %s", [pk])
        new_id = uuid.uuid4() if isinstance(pk, uuid.UUID) else 987654
        with pytest.raises(IntegrityError, match=f"UPDATE refused: loyalty events name {table}"):
            _execute(f"UPDATE {table} SET id = %s WHERE id = %s", [new_id, pk])

    named.refresh_from_db()
    assert (named.program.pk, named.reason.pk, named.actor.pk, named.batch.pk) == tuple(
        pk for _, pk in _named_rows(named)
    )
    # Other changes to them, and rows no event names, are theirs to make.
    _execute("UPDATE ledger_reason SET label = 'Renamed' WHERE id = %s", [named.reason_id])
    assert Reason.objects.get(pk=named.reason_id).label == "Renamed"
    unnamed = Reason.objects.create(
        program=named.program, code="UNUSED", label="Unused", sign=1, affects_lifetime=False
    )
    _execute("DELETE FROM ledger_reason WHERE id = %s", [unnamed.pk])
    assert not Reason.objects.filter(pk=unnamed.pk).exists()


@postgres_only
@pytest.mark.parametrize("table", ["ledger_reason", "ledger_bulkbatch"])
def test_a_table_whose_rows_events_name_cannot_be_emptied(named, table):
    with connection.cursor() as cursor:
        # Settle the test's pending foreign key checks, or PostgreSQL refuses TRUNCATE for
        # that reason instead.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(
        IntegrityError, match=f"TRUNCATE refused: loyalty events name rows of {table}"
    ):
        _execute(f"TRUNCATE {table} CASCADE")
    assert Reason.objects.filter(pk=named.reason_id).exists()
    assert BulkBatch.objects.filter(pk=named.batch_id).exists()


@postgres_only
@pytest.mark.parametrize("table", ["accounts_program", "auth_user"])
def test_the_other_named_tables_cannot_be_emptied_either(named, table):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(DatabaseError, match="refused"):
        _execute(f"TRUNCATE {table} CASCADE")
    assert Program.objects.filter(pk=named.program_id).exists()


@postgres_only
def test_no_foreign_key_is_left_on_the_references_and_their_triggers_are_on():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname FROM pg_constraint c JOIN pg_attribute a "
            "ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) "
            "WHERE c.conrelid = 'ledger_loyaltyevent'::regclass AND c.contype = 'f'"
        )
        foreign_keys = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger "
            "WHERE tgname LIKE 'pgtrigger_references_%%' OR tgname LIKE 'pgtrigger_named_by_%%'"
        )
        triggers = cursor.fetchall()

    columns = {column for column, _ in EVENT_REFERENCES}
    assert not foreign_keys & columns
    assert {"account_id", "reverses_id", "counterpart_id"} <= foreign_keys  # the others stay
    assert {enabled for *_, enabled in triggers} == {"O"}
    assert sorted(table for table, name, _ in triggers if "references" in name) == [
        "ledger_loyaltyevent"
    ]
    guarded = sorted(table for table, name, _ in triggers if "named_by" in name)
    assert guarded == sorted(2 * [table for _, table in EVENT_REFERENCES])


@postgres_only
def test_check_ledger_names_what_the_trigger_did_not_see(named, reasons, manager):
    """A restore loads the rows before it makes the triggers, so nothing checks the restored
    events' references but check_ledger."""
    assert reference_discrepancies() == []
    with pgtrigger.ignore("ledger.LoyaltyEvent:references"):
        event_row(named.account, 5, timezone.now(), reason=reasons["REWARD"], actor=manager)
        orphan = event_row(named.account, 5, timezone.now(), reason=reasons["REWARD"])
        orphan.reason_id, orphan.batch_id = 987654, uuid.UUID(int=7)
        orphan.source = LoyaltyEvent.Source.BULK_IMPORT
        orphan.save()

    expected = [
        "events name reason_id 987654, which does not exist",
        f"events name batch_id {uuid.UUID(int=7)}, which does not exist",
    ]
    assert reference_discrepancies() == expected
    out = io.StringIO()
    with pytest.raises(CommandError, match="discrepancies in the ledger"):
        call_command("check_ledger", stdout=out)
    assert all(line in out.getvalue().splitlines() for line in expected)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_check_holds_the_named_rows_until_the_events_are_committed(program, reasons, manager):
    """As a foreign key's check does: a row named by events being written cannot be deleted
    before they are committed, and then not at all; an event cannot name a row being deleted."""
    reward = reasons["REWARD"]
    account = AccountFactory(program=program)
    outcome: list[str] = []

    def delete_the_reason(timeout: str) -> None:
        with psycopg.connect(_url(), autocommit=True) as other:
            other.execute(f"SET lock_timeout = '{timeout}'")
            try:
                other.execute("DELETE FROM ledger_reason WHERE id = %s", [reward.pk])
                outcome.append("deleted")
            except psycopg.Error as error:
                outcome.append(type(error).__name__ + ": " + str(error).splitlines()[0])

    with transaction.atomic():
        event_row(account, 5, timezone.now(), reason=reward, actor=manager).save()
        deleter = threading.Thread(target=delete_the_reason, args=["300ms"])
        deleter.start()
        deleter.join()
    delete_the_reason("2s")

    assert outcome[0].startswith("LockNotAvailable")
    assert outcome[1].startswith("ForeignKeyViolation: DELETE refused: loyalty events name")
    assert Reason.objects.filter(pk=reward.pk).exists()

    # The other way round: a reason being deleted, still uncommitted, cannot be named.
    doomed = Reason.objects.create(
        program=program, code="DOOMED", label="Doomed", sign=1, affects_lifetime=False
    )
    with psycopg.connect(_url()) as deleting:
        deleting.execute("DELETE FROM ledger_reason WHERE id = %s", [doomed.pk])
        with pytest.raises(DatabaseError, match="lock timeout"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '300ms'")
            event_row(account, 5, timezone.now(), reason=doomed, actor=manager).save()
        deleting.commit()
    with (
        pytest.raises(IntegrityError, match=f"names reason_id {doomed.pk}, which does not"),
        transaction.atomic(),
    ):
        event_row(account, 5, timezone.now(), reason=doomed, actor=manager).save()
    assert LoyaltyEvent.objects.filter(account=account).count() == 1
    connections.close_all()


def _url() -> str:
    settings = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        password=settings["PASSWORD"] or None,
    )
