"""The rows an event names (its account, program, reason, operator, API client, batch, reward,
reversed event) exist for as long as the event does.

On PostgreSQL one trigger checks all the rows of a statement at once (EVENT_REFERENCES), and
the named tables refuse to lose a row that an event names (events are never deleted at all);
the lots' and consumptions' events are checked the same way. SQLite keeps foreign keys."""

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
from ledger import services
from ledger.models import (
    EVENT_REFERENCES,
    BulkBatch,
    LotConsumption,
    LoyaltyEvent,
    PointLot,
    Reason,
)
from ledger.selectors import reference_discrepancies
from ledger.services import Actor

from ..conftest import postgres_only
from ..factories import AccountFactory, api_client
from ..review.conftest import event_row

pytestmark = pytest.mark.django_db

MISSING = {"reason_id": 987654, "actor_id": 987654, "api_client_id": "missing.key"}
# What an event must be to name a reward or a reversed event at all (the table's checks).
SHAPED = {
    "reward_id": {"type": LoyaltyEvent.Type.CREATE_REWARD},
    "reverses_id": {"type": LoyaltyEvent.Type.REVERSAL},
}


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
    """An event that names an account, a program, a reason, an operator, an API client and a
    batch."""
    event = event_row(
        AccountFactory(program=program),
        25,
        timezone.now(),
        reason=reasons["REWARD"],
        actor=manager,
        api_client=api_client()[0],
        batch=batch,
        source=LoyaltyEvent.Source.BULK_IMPORT,
    )
    event.save()
    return event


@pytest.fixture
def reward(funded, program, manager):
    """A reward, which its CREATE_REWARD event names."""
    actor = Actor.of_operator(manager)
    tier = services.add_reward_tier(program=program, name="Coffee", points=100, actor=actor)
    return services.create_reward(account=funded, tier=tier, actor=actor)


def test_the_references_are_the_foreign_keys_of_events():
    """The trigger's list names each field's own table, so that it checks what the foreign key
    it replaces would have."""
    for column, table in EVENT_REFERENCES:
        field = next(f for f in LoyaltyEvent._meta.concrete_fields if f.column == column)
        assert field.related_model._meta.db_table == table


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("column", [column for column, _ in EVENT_REFERENCES])
def test_an_event_that_names_a_missing_row_is_refused(column, program, reasons, manager):
    account = AccountFactory(program=program)
    missing = MISSING.get(column, uuid.uuid4())
    row = event_row(
        account,
        5,
        timezone.now(),
        reason=reasons["REWARD"],
        actor=manager,
        **SHAPED.get(column, {}),
    )
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


def _named_rows(named, reward) -> list[tuple[str, object]]:
    return [
        ("accounts_loyaltyaccount", named.account_id),
        ("accounts_program", named.program_id),
        ("ledger_reason", named.reason_id),
        ("auth_user", named.actor_id),
        ("loyalty_admin_apiclient", named.api_client_id),
        ("ledger_bulkbatch", named.batch_id),
        ("ledger_reward", reward.pk),
    ]


def _another_id(pk: object) -> object:
    return {uuid.UUID: uuid.uuid4(), str: "another.key"}.get(type(pk), 987654)


@postgres_only
def test_a_row_that_an_event_names_cannot_be_deleted_or_renumbered(named, reward):
    rows = _named_rows(named, reward)
    # Every table that events name, but their own (events are never deleted).
    assert {table for _, table in EVENT_REFERENCES} - {t for t, _ in rows} == {
        "ledger_loyaltyevent"
    }
    with connection.cursor() as cursor:
        # Settle the test's pending foreign key checks (the other tables' rows that name the
        # account and the reward), so that only the triggers are left to refuse.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table, pk in rows:
        with pytest.raises(IntegrityError, match=f"DELETE refused: loyalty events name {table}"):
            _execute(f"DELETE FROM {table} WHERE id = %s", [pk])
        with pytest.raises(IntegrityError, match=f"UPDATE refused: loyalty events name {table}"):
            _execute(f"UPDATE {table} SET id = %s WHERE id = %s", [_another_id(pk), pk])

    named.refresh_from_db()
    reward.refresh_from_db()
    assert (
        named.account.pk,
        named.program.pk,
        named.reason.pk,
        named.actor.pk,
        named.api_client.pk,
        named.batch.pk,
        reward.pk,
    ) == tuple(pk for _, pk in rows)
    # Other changes to them, and rows no event names, are theirs to make.
    _execute("UPDATE ledger_reason SET label = 'Renamed' WHERE id = %s", [named.reason_id])
    assert Reason.objects.get(pk=named.reason_id).label == "Renamed"
    unnamed = Reason.objects.create(
        program=named.program, code="UNUSED", label="Unused", sign=1, affects_lifetime=False
    )
    _execute("DELETE FROM ledger_reason WHERE id = %s", [unnamed.pk])
    assert not Reason.objects.filter(pk=unnamed.pk).exists()


@postgres_only
@pytest.mark.parametrize("table", ["ledger_reason", "ledger_bulkbatch", "loyalty_admin_apiclient"])
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
@pytest.mark.parametrize(
    "table", ["accounts_program", "auth_user", "accounts_loyaltyaccount", "ledger_reward"]
)
def test_the_other_named_tables_cannot_be_emptied_either(named, reward, table):
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

        cursor.execute(
            "SELECT c.conrelid::regclass::text || '.' || a.attname FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) "
            "WHERE c.conrelid IN ('ledger_pointlot'::regclass, 'ledger_lotconsumption'::regclass) "
            "AND c.contype = 'f'"
        )
        lot_keys = {row[0] for row in cursor.fetchall()}

    columns = {column for column, _ in EVENT_REFERENCES}
    assert not foreign_keys & columns
    # The one that stays: each half of a pair names the other, written after it.
    assert foreign_keys == {"counterpart_id"}
    # A consumption's lot keeps its foreign key; the events are checked by statement.
    assert lot_keys == {"ledger_lotconsumption.lot_id"}
    assert {enabled for *_, enabled in triggers} == {"O"}
    assert sorted(table for table, name, _ in triggers if "references" in name) == [
        "ledger_lotconsumption",
        "ledger_loyaltyevent",
        "ledger_pointlot",
    ]
    guarded = sorted(table for table, name, _ in triggers if "named_by" in name)
    never_deleted = "ledger_loyaltyevent"
    assert guarded == sorted(2 * [t for _, t in EVENT_REFERENCES if t != never_deleted])


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
        homeless = event_row(named.account, 5, timezone.now(), reason=reasons["REWARD"])
        homeless.account_id = uuid.UUID(int=8)
        homeless.save()

    expected = [
        "events name reason_id 987654, which does not exist",
        f"events name batch_id {uuid.UUID(int=7)}, which does not exist",
        f"events name account_id {uuid.UUID(int=8)}, which does not exist",
    ]
    assert reference_discrepancies() == expected
    out = io.StringIO()
    with pytest.raises(CommandError, match="discrepancies in the ledger"):
        call_command("check_ledger", stdout=out)
    assert all(line in out.getvalue().splitlines() for line in expected)


def _lot(event: LoyaltyEvent, **fields) -> PointLot:
    fields = {"account_id": event.account_id, "event": event, **fields}
    return PointLot(points=5, remaining=5, created_at=event.created_at, **fields)


@pytest.mark.django_db(transaction=True)
def test_a_lot_or_consumption_that_names_a_missing_event_is_refused(funded):
    earned = LoyaltyEvent.objects.filter(account=funded).get()
    lot = PointLot.objects.get(event=earned)
    missing = uuid.uuid4()

    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        PointLot.objects.bulk_create([_lot(earned), _lot(earned, event_id=missing)])
    if connection.vendor == "postgresql":
        assert f"point lot names event_id {missing} of account {funded.pk}, which does not" in str(
            refused.value
        )

    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        LotConsumption.objects.bulk_create(
            [
                LotConsumption(event=earned, lot=lot, points=1),
                LotConsumption(event_id=missing, lot=lot, points=1),
            ]
        )
    if connection.vendor == "postgresql":
        assert f"lot consumption names event_id {missing}, which does not" in str(refused.value)
    assert PointLot.objects.filter(account=funded).count() == 1
    assert not LotConsumption.objects.filter(lot=lot).exists()


@postgres_only
def test_a_lot_must_be_of_its_events_account(funded, program):
    """A lot's account is its event's: the events' check of their accounts then keeps the
    lots' accounts too."""
    earned = LoyaltyEvent.objects.filter(account=funded).get()
    stranger = AccountFactory(program=program)
    with (
        pytest.raises(
            IntegrityError, match=f"point lot names event_id {earned.pk} of account {stranger.pk}"
        ),
        transaction.atomic(),
    ):
        _lot(earned, account_id=stranger.pk).save()
    assert not PointLot.objects.filter(account=stranger).exists()


@postgres_only
def test_check_ledger_names_a_lot_or_consumption_whose_event_is_missing(funded):
    earned = LoyaltyEvent.objects.filter(account=funded).get()
    lot = PointLot.objects.get(event=earned)
    with pgtrigger.ignore("ledger.PointLot:references", "ledger.LotConsumption:references"):
        _lot(earned, event_id=uuid.UUID(int=9)).save()
        LotConsumption.objects.create(event_id=uuid.UUID(int=10), lot=lot, points=1)

    assert reference_discrepancies() == [
        f"lots name event_id {uuid.UUID(int=9)} of account {funded.pk}, which does not exist",
        f"lot consumptions name event_id {uuid.UUID(int=10)}, which does not exist",
    ]


def _delete_elsewhere(table: str, pk: object, timeout: str, outcome: list[str]) -> None:
    with psycopg.connect(_url(), autocommit=True) as other:
        other.execute(f"SET lock_timeout = '{timeout}'")
        try:
            other.execute(f"DELETE FROM {table} WHERE id = %s", [pk])
            outcome.append("deleted")
        except psycopg.Error as error:
            outcome.append(type(error).__name__ + ": " + str(error).splitlines()[0])


@postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["reason", "account"])
def test_the_check_holds_the_named_rows_until_the_events_are_committed(
    kind, program, reasons, manager
):
    """As a foreign key's check does: a row named by events being written cannot be deleted
    before they are committed, and then not at all; an event cannot name a row being deleted."""
    table, column = {
        "reason": ("ledger_reason", "reason_id"),
        "account": ("accounts_loyaltyaccount", "account_id"),
    }[kind]
    other_account = AccountFactory(program=program)

    def a_row():
        if kind == "account":
            return AccountFactory(program=program)
        code = f"R{uuid.uuid4().hex[:8].upper()}"
        return Reason.objects.create(
            program=program, code=code, label=code, sign=1, affects_lifetime=False
        )

    def event_naming(row) -> LoyaltyEvent:
        account = row if kind == "account" else other_account
        reason = row if kind == "reason" else reasons["REWARD"]
        return event_row(account, 5, timezone.now(), reason=reason, actor=manager)

    named, outcome = a_row(), []
    with transaction.atomic():
        event_naming(named).save()
        deleter = threading.Thread(
            target=_delete_elsewhere, args=[table, named.pk, "300ms", outcome]
        )
        deleter.start()
        deleter.join()
    _delete_elsewhere(table, named.pk, "2s", outcome)

    assert outcome[0].startswith("LockNotAvailable")
    assert outcome[1].startswith(
        f"ForeignKeyViolation: DELETE refused: loyalty events name {table}"
    )
    assert type(named).objects.filter(pk=named.pk).exists()

    # The other way round: a row being deleted, still uncommitted, cannot be named.
    doomed = a_row()
    with psycopg.connect(_url()) as deleting:
        deleting.execute(f"DELETE FROM {table} WHERE id = %s", [doomed.pk])
        with pytest.raises(DatabaseError, match="lock timeout"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '300ms'")
            event_naming(doomed).save()
        deleting.commit()
    with (
        pytest.raises(IntegrityError, match=f"names {column} {doomed.pk}, which does not"),
        transaction.atomic(),
    ):
        event_naming(doomed).save()
    assert LoyaltyEvent.objects.count() == 1
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
