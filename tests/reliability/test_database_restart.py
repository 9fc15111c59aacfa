"""PostgreSQL restarted in the middle of a mixed write load against gunicorn.

During the restart clients get JSON 503s with Retry-After (never a 500 or an HTML page) or a
dropped connection; after it, requests succeed without restarting gunicorn; every
acknowledged write is in the ledger once; `ledger_discrepancies()` is empty.

It restarts a cluster of its own (tests/reliability/cluster.py), never the shared one, and
runs only under `make reliability` (RELIABILITY_DATABASE_RESTART=1): it needs root for
`pg_createcluster` and takes about a minute.
"""

import json
import os
import shutil
import time

import pytest

from . import load
from .cluster import DedicatedCluster
from .server import GunicornServer

pytestmark = pytest.mark.skipif(
    os.environ.get("RELIABILITY_DATABASE_RESTART") != "1" or not shutil.which("pg_createcluster"),
    reason="restarts a PostgreSQL cluster of its own: `make reliability` runs it "
    "(RELIABILITY_DATABASE_RESTART=1, root, postgresql-common)",
)

SEED = """
import json
from django.utils import timezone
from accounts.models import LoyaltyAccount, Program
from ledger.models import Reason
from ledger.services import Actor, adjust_points
from loyalty_admin.services import create_api_client
program = Program.objects.get(is_default=True)
reward = Reason.objects.get(program=program, code="REWARD")
accounts = []
for i in range(40):
    account = LoyaltyAccount.objects.create(
        program=program, customer_id=f"R{i:04d}", email=f"restart{i}@example.com",
        phone=f"+1555100{i:04d}", first_name="Re", last_name=str(i),
        enrolled_at=timezone.now(), created_at=timezone.now(), updated_at=timezone.now(),
    )
    adjust_points(account=account, points=1000, reason=reward, actor=Actor.system())
    accounts.append({"id": str(account.pk), "email": account.email, "phone": account.phone})
_, key = create_api_client(name="load", scopes="read,write", rate=10_000_000)
print(json.dumps({"key": key, "accounts": accounts}))
"""

LEDGER = """
import json
from ledger.models import LoyaltyEvent
from ledger.selectors import ledger_discrepancies
events = LoyaltyEvent.objects.exclude(source=LoyaltyEvent.Source.SYSTEM)
print(json.dumps({
    "api_events": events.count(),
    "ids": [str(pk) for pk in events.values_list("pk", flat=True)],
    "discrepancies": [str(d) for d in ledger_discrepancies()],
}))
"""


@pytest.fixture
def cluster():
    cluster = DedicatedCluster().create()
    try:
        cluster.manage("migrate", "--no-input", "-v0")
        yield cluster
    finally:
        cluster.drop()


def test_a_database_restart_under_load_fails_cleanly_and_recovers(cluster, tmp_path, capsys):
    world_data = cluster.python(SEED)
    server = GunicornServer(tmp_path, env={"DATABASE_URL": cluster.url}).start()
    try:
        world = load.World(
            base_url=server.url, key=world_data["key"], accounts=world_data["accounts"]
        )
        restarted = {}

        def restart(tally: load.Tally) -> None:
            time.sleep(4)
            start = time.monotonic()
            cluster.restart()
            restarted["seconds"] = round(time.monotonic() - start, 1)

        tally = load.run(world, seconds=12, threads=8, during=restart)

        # Afterwards, with the same gunicorn processes, every request succeeds.
        pids = server.worker_pids()
        after = load.Tally()
        client = load.Client(world, after, load.random.Random(1))
        for _ in range(10):
            client.native_adjust()
            client.native_history()
        assert server.worker_pids() == pids
        ledger = cluster.python(LEDGER)
        errors_logged = server.server_errors_logged()
    finally:
        server.stop()

    summary = tally.summary()
    unavailable = sum(n for (_, s), n in tally.statuses.items() if s == 503)
    with capsys.disabled():
        print(
            "\ndatabase restart:",
            json.dumps(
                {**summary, "restart_seconds": restarted["seconds"], "answered_503": unavailable}
            ),
        )
    assert unavailable + summary["connection_errors"] > 0, "the restart was not noticed"
    assert tally.improper_failures == []
    assert {s for _, s in tally.statuses} <= {200, 201, 400, 409, 422, 503, "conn"}
    assert errors_logged == []
    assert {s for _, s in after.statuses} <= {200, 201}, after.statuses
    # Every acknowledged write once; nothing unacknowledged (retried until answered).
    assert tally.unanswered == set()
    acknowledged = len(tally.acknowledged) + len(after.acknowledged)
    assert ledger["api_events"] == acknowledged
    reported = {e for t in (tally, after) for e in t.acknowledged.values() if e}
    assert reported <= set(ledger["ids"])
    assert ledger["discrepancies"] == []
