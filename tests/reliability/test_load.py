"""Load with invariants: a mixed API workload against gunicorn on PostgreSQL.

RELIABILITY_LOAD_SECONDS sets the length (CI: 20 s; `make reliability`: 180 s).
"""

import json
import os

from ledger.models import IdempotencyRecord, LoyaltyEvent
from ledger.selectors import ledger_discrepancies

from . import load
from .conftest import api_events, world_for

SECONDS = float(os.environ.get("RELIABILITY_LOAD_SECONDS", "20"))
THREADS = int(os.environ.get("RELIABILITY_LOAD_THREADS", "8"))


def test_a_mixed_load_keeps_every_invariant(start_server, seeded, capsys):
    server = start_server()
    before = api_events()

    tally = load.run(world_for(server, seeded), seconds=SECONDS, threads=THREADS)

    summary = tally.summary()
    with capsys.disabled():
        print("\nload:", json.dumps(summary))
    assert tally.requests > 0
    assert summary["server_errors"] == 0, summary["statuses"]
    assert summary["connection_errors"] == 0, summary["statuses"]
    assert server.server_errors_logged() == []
    # Nothing lost, nothing invented: one event per acknowledged write, each where it was said.
    assert api_events() - before == len(tally.acknowledged)
    acknowledged_ids = {e for e in tally.acknowledged.values() if e}
    assert LoyaltyEvent.objects.filter(pk__in=acknowledged_ids).count() == len(acknowledged_ids)
    assert not IdempotencyRecord.objects.filter(event__isnull=True).exists()
    assert ledger_discrepancies() == []
    # The mix really mixed: every kind of request ran and most writes were accepted.
    assert {op for op, _ in tally.statuses} == set(load.MIX)
    assert len(tally.acknowledged) > tally.requests * 0.4
