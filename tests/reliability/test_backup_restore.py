"""The backup drill: `make backup` of the live database, `make restore` into a fresh one,
and the copy holds the same balances and events, a consistent ledger, and its append-only
triggers (an UPDATE or DELETE of an event is still refused)."""

import os
import subprocess

import psycopg
import pytest
from django.conf import settings

from ledger.services import Actor, adjust_points, reverse_event

from .server import ROOT, database_url


def run(*command: str, **env: str) -> str:
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, env={**_env(), **env}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "RESTORE_URL")}


def rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture
def fresh_database():
    """An empty database beside the test database, dropped afterwards."""
    name = settings.DATABASES["default"]["NAME"] + "_restored"
    admin = database_url().rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    yield database_url().rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_backup_restores_into_a_fresh_database_whole(seeded, manager, fresh_database, tmp_path):
    account, reward = seeded["accounts"][0], seeded["reasons"]["REWARD"]
    event = adjust_points(
        account=account, points=25, reason=reward, actor=Actor.of_operator(manager)
    ).event
    reverse_event(event=event, actor=Actor.of_operator(manager), note="drill")
    dump = tmp_path / "loyalty.dump"

    run("make", "-s", "backup", f"BACKUP={dump}", DATABASE_URL=database_url())
    run("make", "-s", "restore", f"FROM={dump}", RESTORE_URL=fresh_database)

    live = database_url()
    for sql in (
        "SELECT id, balance, lifetime_points FROM accounts_loyaltyaccount ORDER BY id",
        "SELECT * FROM ledger_loyaltyevent ORDER BY id",
        "SELECT * FROM ledger_pointlot ORDER BY id",
        "SELECT * FROM loyalty_admin_auditentry ORDER BY id",
    ):
        assert rows(fresh_database, sql) == rows(live, sql)
    assert len(rows(fresh_database, "SELECT id FROM ledger_loyaltyevent")) == 42
    checked = run("uv", "run", "--frozen", "python", "manage.py", "check_ledger",
                  DATABASE_URL=fresh_database)  # fmt: skip
    assert "The ledger is consistent." in checked
    with psycopg.connect(fresh_database) as connection:
        for statement in (
            "UPDATE ledger_loyaltyevent SET points = points + 1",
            "DELETE FROM ledger_loyaltyevent",
            "UPDATE loyalty_admin_auditentry SET summary = 'edited'",
        ):
            with (
                pytest.raises(psycopg.errors.RaiseException, match="append-only"),
                connection.transaction(),
            ):
                connection.execute(statement)
