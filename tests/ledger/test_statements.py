"""The write path's own statements read and write exactly what the ORM would."""

import uuid
from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.db.models import signals
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
