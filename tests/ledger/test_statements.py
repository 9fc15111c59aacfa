"""The write path's own statements read and write exactly what the ORM would."""

import uuid
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import signals
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import LoyaltyAccount, Program
from ledger.models import IdempotencyRecord, LoyaltyEvent, PointLot
from ledger.services import statements

pytestmark = pytest.mark.django_db


def fields_of(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_the_lock_reads_the_account_and_its_program_as_the_orm_does(account):
    locked = statements.lock_account(account.pk)
    read = LoyaltyAccount.objects.select_related("program").get(pk=account.pk)

    for mine, orm in ((locked, read), (locked.program, read.program)):
        assert fields_of(mine) == fields_of(orm)
        # Same types too: a UUID stays a UUID, a datetime an aware datetime.
        assert {k: type(v) for k, v in fields_of(mine).items()} == {
            k: type(v) for k, v in fields_of(orm).items()
        }
    assert locked._state.adding is False
    assert locked._state.db == "default"
    assert "program" in locked._state.fields_cache  # no query to reach the program


def test_the_lock_finds_no_unknown_account(account):
    assert statements.lock_account(uuid.uuid4()) is None


def test_insert_writes_every_field_and_sets_an_auto_id(account):
    now = timezone.now()
    event = LoyaltyEvent(
        program_id=account.program_id,
        account=account,
        type=LoyaltyEvent.Type.ADJUST_POINTS,
        points=7,
        affects_lifetime=True,
        balance_after=account.balance + 7,
        lifetime_after=account.lifetime_points + 7,
        source=LoyaltyEvent.Source.SYSTEM,
        note="a note",
        created_at=now,
    )
    statements.insert(event)
    lot = statements.insert(
        PointLot(account=account, event=event, points=7, remaining=7, created_at=now)
    )
    record = statements.insert(
        IdempotencyRecord(scope="s", key="k", fingerprint="f" * 64, event=event)
    )

    assert lot.pk is not None and record.pk is not None
    assert not event._state.adding
    assert fields_of(LoyaltyEvent.objects.get(pk=event.pk)) == fields_of(event)
    assert fields_of(PointLot.objects.get(pk=lot.pk)) == fields_of(lot)
    stored = IdempotencyRecord.objects.get(pk=record.pk)
    assert stored.created_at is not None  # auto_now_add, as save() sets it
    assert fields_of(stored) == fields_of(record)


def test_insert_refuses_an_instance_with_an_auto_id_already(account):
    with pytest.raises(ValueError, match="PointLot"):
        statements.insert(PointLot(pk=5, account=account, points=1, remaining=1))


def test_update_writes_only_the_named_columns(account):
    before = LoyaltyAccount.objects.get(pk=account.pk)
    account.balance += 11
    account.lifetime_points += 11
    account.updated_at = before.updated_at + timedelta(seconds=1)
    account.email = "not-written@example.com"

    statements.update(account, ("balance", "lifetime_points", "updated_at"))

    after = LoyaltyAccount.objects.get(pk=account.pk)
    assert (after.balance, after.lifetime_points) == (
        before.balance + 11,
        before.lifetime_points + 11,
    )
    assert after.updated_at == before.updated_at + timedelta(seconds=1)
    assert after.email == before.email


def test_update_of_a_missing_row_fails():
    ghost = LoyaltyAccount(pk=uuid.uuid4(), program=Program.objects.first(), balance=1)
    with pytest.raises(DatabaseError, match="not there"):
        statements.update(ghost, ("balance",))


@pytest.mark.parametrize("model", [LoyaltyAccount, LoyaltyEvent, PointLot, IdempotencyRecord])
def test_no_model_signal_is_missed(model):
    """These statements send no save signals, as `QuerySet.update()` sends none: a receiver
    connected to one of these models would silently miss the write path."""
    for signal in (signals.pre_save, signals.post_save):
        assert not signal.has_listeners(model), (signal, model)


# statements.atomic(): the writes a block makes go together at its end (on PostgreSQL).


def _event(account, points: int = 5) -> LoyaltyEvent:
    return LoyaltyEvent(
        program_id=account.program_id,
        account=account,
        type=LoyaltyEvent.Type.ADJUST_POINTS,
        points=points,
        affects_lifetime=True,
        balance_after=account.balance + points,
        lifetime_after=account.lifetime_points + points,
        source=LoyaltyEvent.Source.SYSTEM,
        created_at=timezone.now(),
    )


def _writes(captured: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].split(None, 1)[0].upper() not in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")
    ]


class Taken(Exception):
    pass


def test_a_blocks_writes_go_as_one_statement_on_postgresql_and_read_back_alike(account):
    with CaptureQueriesContext(connection) as captured, statements.atomic():
        event = statements.insert(_event(account))
        account.balance += 5
        statements.update(account, ("balance",))
        lot = statements.insert(
            PointLot(
                account=account, event=event, points=5, remaining=5, created_at=event.created_at
            )
        )
        record = statements.insert(
            IdempotencyRecord(scope="s", key="together", fingerprint="f" * 64, event=event),
            if_taken=Taken,
        )

    assert len(_writes(captured)) == (1 if connection.vendor == "postgresql" else 4)
    assert lot.pk is not None and record.pk is not None  # the ids came back at the end
    assert fields_of(LoyaltyEvent.objects.get(pk=event.pk)) == fields_of(event)
    assert fields_of(PointLot.objects.get(pk=lot.pk)) == fields_of(lot)
    assert fields_of(IdempotencyRecord.objects.get(pk=record.pk)) == fields_of(record)
    assert LoyaltyAccount.objects.get(pk=account.pk).balance == account.balance


def test_a_read_inside_the_block_sees_the_writes_held_before_it(account):
    with statements.atomic():
        event = statements.insert(_event(account))
        account.balance += 5
        statements.update(account, ("balance",))

        assert LoyaltyEvent.objects.filter(pk=event.pk).exists()
        assert LoyaltyAccount.objects.get(pk=account.pk).balance == account.balance


def test_a_second_update_of_a_held_row_is_not_lost(account):
    start = account.balance
    with statements.atomic():
        account.balance = start + 1
        statements.update(account, ("balance",))
        account.balance = start + 2
        statements.update(account, ("balance",))

    assert LoyaltyAccount.objects.get(pk=account.pk).balance == start + 2


def test_a_taken_row_raises_and_undoes_the_whole_block(account):
    first = statements.insert(_event(account))
    statements.insert(IdempotencyRecord(scope="s", key="once", fingerprint="a" * 64, event=first))
    balance = LoyaltyAccount.objects.get(pk=account.pk).balance

    with pytest.raises(Taken), statements.atomic():
        second = statements.insert(_event(account))
        account.balance += 5
        statements.update(account, ("balance",))
        statements.insert(
            IdempotencyRecord(scope="s", key="once", fingerprint="b" * 64, event=second),
            if_taken=Taken,
        )

    assert not LoyaltyEvent.objects.filter(pk=second.pk).exists()
    assert LoyaltyAccount.objects.get(pk=account.pk).balance == balance
    assert IdempotencyRecord.objects.get(scope="s", key="once").fingerprint == "a" * 64


def test_a_block_that_raises_writes_nothing(account):
    with (
        CaptureQueriesContext(connection) as captured,
        pytest.raises(RuntimeError),
        statements.atomic(),
    ):
        event = statements.insert(_event(account))
        raise RuntimeError("refused")

    assert not LoyaltyEvent.objects.filter(pk=event.pk).exists()
    if connection.vendor == "postgresql":
        assert not any("ledger_loyaltyevent" in sql for sql in _writes(captured))


def test_a_savepoint_rolled_back_inside_the_block_undoes_only_its_own_writes(account):
    with statements.atomic():
        kept = statements.insert(_event(account))
        try:
            with transaction.atomic():
                dropped = statements.insert(_event(account, points=7))
                raise RuntimeError("refused")
        except RuntimeError:
            pass

    assert LoyaltyEvent.objects.filter(pk=kept.pk).exists()
    assert not LoyaltyEvent.objects.filter(pk=dropped.pk).exists()


def test_a_held_update_of_a_missing_row_fails_the_block(account):
    ghost = LoyaltyAccount(pk=uuid.uuid4(), program=account.program, balance=1)
    with pytest.raises(DatabaseError, match="not there"), statements.atomic():
        event = statements.insert(_event(account))
        statements.update(ghost, ("balance",))

    assert not LoyaltyEvent.objects.filter(pk=event.pk).exists()


def test_if_taken_needs_an_auto_id(account):
    with pytest.raises(ValueError, match="auto id"):
        statements.insert(_event(account), if_taken=Taken)


def test_an_update_of_a_row_inserted_in_the_block_gets_its_id_first(account):
    event = statements.insert(_event(account))
    with statements.atomic():
        lot = statements.insert(
            PointLot(
                account=account, event=event, points=5, remaining=5, created_at=event.created_at
            )
        )
        lot.remaining = 3
        statements.update(lot, ("remaining",))

    assert PointLot.objects.get(pk=lot.pk).remaining == 3


def test_a_block_inside_a_block_keeps_or_undoes_its_writes_as_a_savepoint(account):
    with statements.atomic():
        outer = statements.insert(_event(account))
        with statements.atomic():
            kept = statements.insert(_event(account, points=6))
        with pytest.raises(RuntimeError), statements.atomic():
            dropped = statements.insert(_event(account, points=7))
            raise RuntimeError("refused")
        last = statements.insert(_event(account, points=8))

    written = set(LoyaltyEvent.objects.filter(account=account).values_list("pk", flat=True))
    assert {outer.pk, kept.pk, last.pk} <= written
    assert dropped.pk not in written


@pytest.mark.parametrize(
    ("model", "column"), [(IdempotencyRecord, "event_id"), (PointLot, "account_id")]
)
def test_the_write_path_feeds_no_index_that_nothing_reads(model, column):
    """A key's event and a lot's account are read only through their record and the open
    lots' index: an index on either column alone would cost every adjustment an entry at a
    random place, for no reader. Their foreign keys stay, but the lot's on PostgreSQL, where
    the lots' trigger checks it with the lot's event (`lot_event_mismatch_sql`)."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    assert not [name for name, c in constraints.items() if c["index"] and c["columns"] == [column]]
    checked_by_statement = model is PointLot and connection.vendor == "postgresql"
    assert checked_by_statement != any(
        c["foreign_key"] and c["columns"] == [column] for c in constraints.values()
    )
