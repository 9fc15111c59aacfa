import pytest
from django.db import connection
from django.test import Client, TransactionTestCase

from accounts.models import Program
from ledger import lookups
from ledger.models import Reason
from ledger.services import Actor, adjust_points, create_program, webhooks
from loyalty_admin import api_keys

from .factories import AccountFactory, operator
from .receiver import Receiver, start_receiver


def _flush_past_append_only_triggers(original):
    """Transactional tests end by emptying every table, events and audit entries included;
    the append-only triggers, and those of the tables events name, would (rightly) refuse
    that, so the test teardown alone lifts them."""

    def teardown(self):
        if connection.vendor == "postgresql":
            import pgtrigger

            with pgtrigger.ignore(
                "ledger.LoyaltyEvent:append_only",
                "ledger.LoyaltyEvent:append_only_truncate",
                "loyalty_admin.AuditEntry:append_only",
                "loyalty_admin.AuditEntry:append_only_truncate",
                *(
                    f"ledger.{model}:named_by_events_truncate"
                    for model in (
                        "Reason",
                        "BulkBatch",
                        "Reward",
                        "ProgramNamedByEvents",
                        "AccountNamedByEvents",
                        "OperatorNamedByEvents",
                        "ApiClientNamedByEvents",
                    )
                ),
            ):
                return original(self)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name IN ('ledger_loyaltyevent', 'loyalty_admin_auditentry')"
            )
            triggers = cursor.fetchall()
            for name, _ in triggers:
                cursor.execute(f"DROP TRIGGER {name}")
        try:
            return original(self)
        finally:
            with connection.cursor() as cursor:
                for _, sql in triggers:
                    cursor.execute(sql)

    return teardown


TransactionTestCase._fixture_teardown = _flush_past_append_only_triggers(
    TransactionTestCase._fixture_teardown
)

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL only; runs in CI's PostgreSQL pass (DATABASE_URL=postgres://...)",
)


@pytest.fixture(autouse=True)
def _fresh_lookup_caches():
    """Each test starts with empty per-process caches of API keys, reasons and webhook
    subscriptions: a row a test made (and rolled back) must not answer for another test."""
    api_keys.forget_clients()
    lookups.forget_reasons()
    webhooks.forget_wanted_here()
    yield
    api_keys.forget_clients()
    lookups.forget_reasons()
    webhooks.forget_wanted_here()


@pytest.fixture
def program(db) -> Program:
    # Migrations create the default program, but a transactional test's flush removes it.
    existing = Program.objects.filter(is_default=True).first()
    return existing or create_program(name="Loyalty program", alias="main", is_default=True)


@pytest.fixture
def reasons(program) -> dict[str, Reason]:
    return {r.code: r for r in Reason.objects.filter(program=program)}


@pytest.fixture
def account(program):
    return AccountFactory(program=program)


@pytest.fixture
def agent(db):
    return operator("agent")


@pytest.fixture
def manager(db):
    return operator("manager")


@pytest.fixture(autouse=True)
def webhooks_to_loopback_only(settings):
    # Tests may send notifications to receivers they start on loopback, and nowhere else.
    settings.WEBHOOK_REFUSED_NETWORKS = ["0.0.0.0/0", "::/0"]
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    from django.core.cache import caches

    from ledger.services.webhooks import wanted_cache_key

    # As in steady use: the list of subscriptions (none yet) is in the cache.
    caches["shared"].set(wanted_cache_key(), [], timeout=60)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Operators are built with a real password; the default hasher costs ~0.3 s each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def agent_client(agent) -> Client:
    client = Client()
    client.force_login(agent)
    return client


@pytest.fixture
def manager_client(manager) -> Client:
    client = Client()
    client.force_login(manager)
    return client


@pytest.fixture
def funded(account, reasons, manager):
    """The customer with 1,000 points, all earned."""
    adjust_points(
        account=account,
        points=1000,
        reason=reasons["REWARD"],
        actor=Actor.of_operator(manager),
    )
    account.refresh_from_db()
    return account


@pytest.fixture
def receiver() -> Receiver:
    """A webhook receiver on loopback that answers `receiver.status` and records what came."""
    receiver, server = start_receiver()
    yield receiver
    server.shutdown()
    server.server_close()
