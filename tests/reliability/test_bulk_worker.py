"""The job worker SIGKILLed while it applies a large bulk file: the batch does not stay
"Applying" for a person to clean up. Its heartbeat stops, `recover_bulk_batches` requeues it,
and the next worker applies every row once."""

import os
import signal
import subprocess
import sys
import time

from django.core.management import call_command

from ledger.models import BulkBatch, LoyaltyEvent
from ledger.selectors import ledger_discrepancies
from ledger.services import Actor, applied_so_far, apply_or_queue_batch, upload_bulk_file

from .conftest import bulk_customers, bulk_file
from .server import ROOT, database_url
from .test_faults import report

ROWS_PER_ACCOUNT = 8


def big_batch(program, manager) -> BulkBatch:
    lines = bulk_file(bulk_customers(program, name="job"), ROWS_PER_ACCOUNT)
    actor = Actor.of_operator(manager, source=LoyaltyEvent.Source.BULK_IMPORT)
    batch, check = upload_bulk_file(
        program=program, actor=actor, filename="big.csv", data="\n".join(lines).encode()
    )
    assert not check.errors
    return batch


def worker(*args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "LOG_LEVEL": "WARNING",
        "BULK_STALE_SECONDS": "2",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--no-reload", "--no-startup-delay", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def test_a_worker_killed_mid_apply_is_recovered_without_a_person(seeded, manager, settings, capsys):
    settings.BULK_INLINE_ROWS = 10
    settings.BULK_STALE_SECONDS = 2
    batch = big_batch(seeded["program"], manager)
    apply_or_queue_batch(batch=batch, actor=Actor.of_operator(manager))

    first = worker("--interval", "0.2")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            batch.refresh_from_db()
            if batch.status == BulkBatch.Status.APPLYING and applied_so_far(batch) > 0:
                break
            time.sleep(0.05)
        killed_after = applied_so_far(batch)
        assert killed_after > 0, batch.status
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait(timeout=10)

    bulk_events = LoyaltyEvent.objects.filter(source=LoyaltyEvent.Source.BULK_IMPORT)
    assert bulk_events.count() == 0
    batch.refresh_from_db()
    assert batch.status == BulkBatch.Status.APPLYING  # what a person used to find
    time.sleep(settings.BULK_STALE_SECONDS + 1)  # the heartbeat expires

    call_command("recover_bulk_batches")
    batch.refresh_from_db()
    assert batch.status == BulkBatch.Status.QUEUED
    assert "The job worker stopped while applying this file (attempt 1)" in batch.failure

    second = worker("--batch")
    assert second.wait(timeout=300) == 0
    batch.refresh_from_db()
    assert (batch.status, batch.attempts, batch.failure) == (BulkBatch.Status.APPLIED, 2, "")
    assert bulk_events.count() == batch.rows == 500 * ROWS_PER_ACCOUNT
    assert ledger_discrepancies() == []
    report(capsys, "bulk worker SIGKILL", {"rows": batch.rows, "killed_after_rows": killed_after})
