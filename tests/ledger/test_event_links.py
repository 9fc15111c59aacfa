"""An event is reversed at most once and a transfer's half has one counterpart, in the
database itself; on PostgreSQL the rule is indexed only where the link is set."""

import uuid

import pytest
from django.db import IntegrityError, connection, transaction

from ledger import services
from ledger.models import LoyaltyEvent

from ..conftest import postgres_only
from ..factories import AccountFactory


def _insert_copy(event: LoyaltyEvent) -> None:
    """The same row again under a new id, past every service."""
    copy = LoyaltyEvent.objects.get(pk=event.pk)
    copy.pk = uuid.uuid4()
    copy._state.adding = True
    copy.save(force_insert=True)


def test_a_second_reversal_of_one_event_is_refused_by_the_database(account, reasons, manager):
    actor = services.Actor.of_operator(manager)
    earned = services.adjust_points(
        account=account, points=10, reason=reasons["REWARD"], actor=actor
    ).event
    reversal = services.reverse_event(event=earned, note="Mistake", actor=actor)

    with pytest.raises(IntegrityError), transaction.atomic():
        _insert_copy(reversal)
    assert LoyaltyEvent.objects.filter(reverses=earned).count() == 1


def test_a_second_event_naming_the_same_counterpart_is_refused(account, reasons, manager):
    actor = services.Actor.of_operator(manager)
    services.adjust_points(account=account, points=50, reason=reasons["REWARD"], actor=actor)
    target = AccountFactory(program=account.program)
    made = services.transfer_points(
        source=account, target=target, points=20, reason="Family pooling", actor=actor
    ).made

    with pytest.raises(IntegrityError), transaction.atomic():
        _insert_copy(made)
    assert LoyaltyEvent.objects.filter(counterpart=made.counterpart).count() == 1


@postgres_only
@pytest.mark.django_db
def test_the_links_are_indexed_only_where_set():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname, i.indisunique, pg_get_expr(i.indpred, i.indrelid) "
            "FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
            "WHERE i.indrelid = 'ledger_loyaltyevent'::regclass AND i.indnatts = 1 "
            "AND a.attname IN ('reverses_id', 'counterpart_id') ORDER BY a.attname"
        )
        found = cursor.fetchall()
    assert found == [
        ("counterpart_id", True, "(counterpart_id IS NOT NULL)"),
        ("reverses_id", True, "(reverses_id IS NOT NULL)"),
    ]
