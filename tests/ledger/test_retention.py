"""`prune_idempotency_records`: old keys go, recent keys and every event stay."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ledger.models import IdempotencyRecord, LoyaltyEvent
from ledger.services import Actor, adjust_points

pytestmark = pytest.mark.django_db


def adjust_with_key(account, reasons, key: str):
    return adjust_points(
        account=account,
        points=10,
        reason=reasons["REWARD"],
        actor=Actor.system(),
        idempotency_key=key,
    )


def test_it_deletes_records_older_than_the_window_and_keeps_events(
    account, reasons, settings, capsys
):
    adjust_with_key(account, reasons, "old")
    adjust_with_key(account, reasons, "recent")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(days=31)
    )
    IdempotencyRecord.objects.filter(key="recent").update(
        created_at=timezone.now() - timedelta(days=29)
    )
    settings.IDEMPOTENCY_RETENTION_DAYS = 30

    call_command("prune_idempotency_records")

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["recent"]
    assert LoyaltyEvent.objects.filter(account=account).count() == 2
    assert "Deleted 1 idempotency records older than 30 days." in capsys.readouterr().out


def test_the_window_is_given_in_days(account, reasons):
    adjust_with_key(account, reasons, "k")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(days=3))

    call_command("prune_idempotency_records", days=7)
    assert IdempotencyRecord.objects.count() == 1
    call_command("prune_idempotency_records", days=2)
    assert IdempotencyRecord.objects.count() == 0


def test_a_window_of_zero_is_refused(account, reasons):
    adjust_with_key(account, reasons, "k")

    with pytest.raises(CommandError, match="longer than zero"):
        call_command("prune_idempotency_records", days=0)
    assert IdempotencyRecord.objects.count() == 1
