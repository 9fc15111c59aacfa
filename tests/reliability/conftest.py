import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import LoyaltyAccount
from ledger import services
from ledger.models import LoyaltyEvent
from tests.factories import AccountFactory, api_client

from .load import World
from .server import GunicornServer

pytestmark = pytest.mark.django_db(transaction=True)


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/reliability/" in str(item.fspath) and connection.vendor != "postgresql":
            item.add_marker(
                pytest.mark.skip(
                    reason="needs PostgreSQL: gunicorn workers cannot share the SQLite test "
                    "database; runs in CI's PostgreSQL pass (DATABASE_URL=postgres://...)"
                )
            )


@pytest.fixture
def seeded(transactional_db, program, reasons):
    """40 customers with 1,000 points each, and a read-write key with no practical limit."""
    accounts = AccountFactory.create_batch(40, program=program)
    for account in accounts:
        services.adjust_points(
            account=account,
            points=1000,
            reason=reasons["REWARD"],
            actor=services.Actor.system(),
        )
    _, key = api_client("load", "read,write", rate=10_000_000)
    return {"accounts": accounts, "key": key, "program": program, "reasons": reasons}


@pytest.fixture
def start_server(tmp_path, seeded):
    """start_server(**options) → a running GunicornServer; all are stopped at the end, and
    their database connections closed so that the test database can be flushed."""
    servers: list[GunicornServer] = []

    def start(**options) -> GunicornServer:
        server = GunicornServer(tmp_path, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    terminate_other_connections()


def bulk_customers(program, *, name: str, count: int = 500) -> list[LoyaltyAccount]:
    """`count` customers made at once (customer ids NAME00000…), for large bulk files."""
    now = timezone.now()
    return LoyaltyAccount.objects.bulk_create(
        LoyaltyAccount(
            program=program,
            customer_id=f"{name.upper()}{i:05d}",
            email=f"{name.lower()}{i}@example.com",
            first_name=name.title(),
            last_name=str(i),
            enrolled_at=now,
            created_at=now,
            updated_at=now,
        )
        for i in range(count)
    )


def bulk_file(accounts, rows_per_account: int) -> list[str]:
    """A bulk CSV's lines: `rows_per_account` REWARD rows for each account."""
    lines = ["customer_id,points,reason,note"]
    lines += [
        f"{a.customer_id},{n + 1},REWARD,row {n}" for a in accounts for n in range(rows_per_account)
    ]
    return lines


def terminate_other_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def world_for(server: GunicornServer, seeded: dict) -> World:
    accounts = [{"id": str(a.pk), "email": a.email, "phone": a.phone} for a in seeded["accounts"]]
    return World(base_url=server.url, key=seeded["key"], accounts=accounts)


def api_events() -> int:
    return LoyaltyEvent.objects.exclude(source=LoyaltyEvent.Source.SYSTEM).count()


def all_accounts():
    return LoyaltyAccount.objects.all()
