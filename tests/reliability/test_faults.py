"""Faults under load: a worker killed, database connections cut, Redis gone, a bulk apply
killed half-way. Each time: every acknowledged write is in the ledger exactly once, nothing
else is, and `ledger_discrepancies()` is empty."""

import json
import os
import signal
import subprocess
import sys
import time

import requests

from ledger.models import BulkBatch, LoyaltyEvent
from ledger.selectors import ledger_discrepancies

from . import load
from .conftest import (
    api_events,
    bulk_customers,
    bulk_file,
    terminate_other_connections,
    world_for,
)
from .server import ROOT, database_url, free_port

WRITES = {op: load.MIX[op] for op in load.WRITE_OPS}


def report(capsys, name: str, summary: dict, **extra) -> None:
    with capsys.disabled():
        print(f"\n{name}:", json.dumps({**summary, **extra}))


def assert_nothing_lost_or_invented(tally: load.Tally, before: int) -> None:
    # Writes that got no answer were retried with the same key until answered.
    assert tally.unanswered == set()
    assert api_events() - before == len(tally.acknowledged)
    ids = {e for e in tally.acknowledged.values() if e}
    assert LoyaltyEvent.objects.filter(pk__in=ids).count() == len(ids)
    assert ledger_discrepancies() == []


def test_a_worker_killed_mid_adjustments_loses_and_invents_nothing(start_server, seeded, capsys):
    server = start_server()
    before = api_events()
    killed = []

    def kill_workers(tally: load.Tally) -> None:
        for _ in range(3):
            time.sleep(2.5)
            killed.append(server.kill_worker())

    tally = load.run(
        world_for(server, seeded), seconds=10, threads=8, mix=WRITES, during=kill_workers
    )

    summary = tally.summary()
    report(capsys, "worker SIGKILL", summary, workers_killed=len(killed))
    assert len(killed) == 3 and not set(killed) & set(server.worker_pids())
    assert summary["server_errors"] == 0
    assert_nothing_lost_or_invented(tally, before)


def test_cut_database_connections_fail_cleanly_and_recover(start_server, seeded, capsys):
    server = start_server()
    before = api_events()
    cuts = []

    def cut_connections(tally: load.Tally) -> None:
        for _ in range(3):
            time.sleep(2)
            cuts.append(terminate_other_connections())

    tally = load.run(world_for(server, seeded), seconds=8, threads=8, during=cut_connections)

    # Afterwards every request succeeds again (CONN_HEALTH_CHECKS replaces dead connections).
    after = load.Tally()
    client = load.Client(world_for(server, seeded), after, load.random.Random(1))
    for _ in range(10):
        client.native_adjust()
        client.native_history()
    summary = tally.summary()
    report(capsys, "pg_terminate_backend", summary, connections_cut=sum(cuts))
    assert sum(cuts) > 0
    # Failures are only clean ones: a JSON 503 with Retry-After (the API's exception handlers
    # turn a lost database connection into one), never a wrong answer or a partial write.
    assert {s for _, s in tally.statuses} <= {200, 201, 400, 409, 422, 503, "conn"}
    assert server.server_errors_logged() == []
    assert {s for _, s in after.statuses} <= {200, 201}, after.statuses
    assert_nothing_lost_or_invented(tally, before + len(after.acknowledged))


def test_with_redis_down_the_api_keeps_serving_without_limits(start_server, seeded, capsys):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    server = start_server(env={"REDIS_URL": dead})
    before = api_events()

    tally = load.run(world_for(server, seeded), seconds=5, threads=4)

    summary = tally.summary()
    report(capsys, "Redis down", summary)
    assert summary["server_errors"] == 0 and summary["connection_errors"] == 0
    assert server.server_errors_logged() == []
    assert_nothing_lost_or_invented(tally, before)
    # The limit fails open, as documented: no RateLimit headers, and a logged warning.
    response = requests.get(
        server.url + "/api/v1/reasons", headers={"Authorization": f"Bearer {seeded['key']}"}
    )
    assert response.status_code == 200 and "RateLimit-Limit" not in response.headers
    assert "Rate limit not enforced: Redis is unavailable" in server.log.read_text()


def test_a_bulk_apply_killed_half_way_applies_nothing(seeded, manager, capsys, tmp_path):
    program, rows_per_account = seeded["program"], 6
    accounts = bulk_customers(program, name="bulk")
    lines = bulk_file(accounts, rows_per_account)
    csv = tmp_path / "big.csv"
    csv.write_text("\n".join(lines) + "\n")
    command = [
        sys.executable,
        "-u",
        "manage.py",
        "bulk_adjust",
        str(csv),
        "--operator",
        manager.email,
    ]
    env = {**os.environ, "DATABASE_URL": database_url(), "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = []
    for line in process.stdout:  # "  1,000 rows…" once the first thousand are applied
        output.append(line)
        if "rows…" in line:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "".join(output)

    bulk_events = LoyaltyEvent.objects.filter(source=LoyaltyEvent.Source.BULK_IMPORT)
    assert bulk_events.count() == 0
    assert not BulkBatch.objects.filter(status=BulkBatch.Status.APPLIED).exists()
    assert ledger_discrepancies() == []
    # The locks died with the process: the same file now applies in full.
    finished = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert bulk_events.count() == len(accounts) * rows_per_account
    assert ledger_discrepancies() == []
    report(capsys, "bulk SIGKILL", {"rows": len(lines) - 1, "killed_after": output[-1].strip()})
