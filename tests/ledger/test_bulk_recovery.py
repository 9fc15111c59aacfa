"""A batch left "Applying" by a worker that stopped is requeued, then failed with a reason
shown on its page; a batch whose worker still beats is left alone."""

from datetime import timedelta

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from ledger.models import BulkBatch
from ledger.services import recover_stale_batches
from ledger.services.bulk import heartbeat, heartbeat_key

from .test_bulk import HEADER, customers, upload  # noqa: F401  (fixture)


@pytest.fixture
def stuck(program, customers, manager, settings):  # noqa: F811
    """A checked one-row batch its worker left "Applying" 10 minutes ago."""
    settings.BULK_STALE_SECONDS = 60
    settings.BULK_MAX_ATTEMPTS = 2
    batch, _ = upload(HEADER + "ann@example.com,,,7,REWARD,,,\n", manager, program)

    def left(attempts: int, ago: timedelta = timedelta(minutes=10)) -> BulkBatch:
        BulkBatch.objects.filter(pk=batch.pk).update(
            status=BulkBatch.Status.APPLYING,
            attempts=attempts,
            applying_since=timezone.now() - ago,
        )
        return batch

    return left


@pytest.mark.django_db(transaction=True)
def test_a_stale_batch_is_requeued_and_then_applied_by_the_worker(stuck, customers):  # noqa: F811
    ann, _ = customers
    batch = stuck(attempts=1)

    call_command("recover_bulk_batches")

    batch.refresh_from_db()
    assert batch.status == BulkBatch.Status.QUEUED
    assert batch.failure == (
        "The job worker stopped while applying this file (attempt 1); nothing was applied, "
        "and it is queued again."
    )
    call_command("db_worker", batch=True, reload=False, startup_delay=False, verbosity=0)
    batch.refresh_from_db()
    ann.refresh_from_db()
    assert (batch.status, batch.rows_applied, batch.attempts, ann.balance) == (
        "APPLIED",
        1,
        2,
        107,
    )
    assert batch.failure == ""


@pytest.mark.django_db
def test_after_the_last_attempt_it_fails_with_the_reason_on_its_page(stuck, manager):
    batch = stuck(attempts=2)

    assert recover_stale_batches() == [batch]

    batch.refresh_from_db()
    assert batch.status == BulkBatch.Status.FAILED
    reason = (
        "The job worker stopped while applying this file (attempt 2); it was tried 2 times "
        "and nothing was applied. Split the file or apply it again."
    )
    assert batch.failure == reason
    browser = Client()
    browser.force_login(manager)
    page = browser.get(f"/bulk/{batch.pk}/").content.decode()
    assert reason in page
    assert "Apply 1 adjustments" in page  # a person may try again from the page


@pytest.mark.django_db
def test_a_batch_whose_worker_still_beats_is_left_alone(stuck):
    batch = stuck(attempts=1)

    with heartbeat(batch.pk):
        assert caches["shared"].get(heartbeat_key(batch.pk)) is not None
        assert recover_stale_batches() == []
    batch.refresh_from_db()
    assert batch.status == BulkBatch.Status.APPLYING
    assert caches["shared"].get(heartbeat_key(batch.pk)) is None


@pytest.mark.django_db
def test_a_batch_that_just_started_is_left_alone(stuck):
    batch = stuck(attempts=1, ago=timedelta(seconds=5))

    assert recover_stale_batches() == []
    batch.refresh_from_db()
    assert batch.status == BulkBatch.Status.APPLYING
