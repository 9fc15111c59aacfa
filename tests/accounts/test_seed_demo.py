import threading

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import IntegrityError, connection
from django.db.backends.signals import connection_created
from django.db.models import Max

from accounts.models import LoyaltyAccount
from ledger.management.demo_load import validate_foreign_keys
from ledger.models import ApprovalRequest, LoyaltyEvent, PointLot, Reward, RewardTier
from ledger.selectors import ledger_discrepancies, tally_discrepancies
from loyalty_admin.roles import ROLES, is_manager
from tests.conftest import postgres_only


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def test_it_seeds_consistent_history_and_tops_up_without_duplicates(program, var_dir, capsys):
    call_command("seed_demo", accounts=300)
    events = LoyaltyEvent.objects.count()
    call_command("seed_demo", accounts=300)

    assert LoyaltyAccount.objects.filter(program=program).count() == 300
    assert LoyaltyEvent.objects.count() == events > 300
    assert ledger_discrepancies() == [] and tally_discrepancies() == []
    call_command("seed_demo", accounts=350)
    assert LoyaltyAccount.objects.count() == 350
    assert ledger_discrepancies() == [] and tally_discrepancies() == []
    assert LoyaltyAccount.objects.filter(phone__isnull=True).count() == 0
    # Every tenth customer has a point-of-sale id (Yotpo's pos_account_id look-up).
    assert LoyaltyAccount.objects.filter(pos_account_id__isnull=False).count() == 35
    assert LoyaltyAccount.objects.get(customer_id="CUST-0000010").pos_account_id == "POS-0000010"


def test_it_creates_demo_operators_and_prints_the_same_passwords_each_run(program, var_dir, capsys):
    call_command("seed_demo", accounts=1)
    first = capsys.readouterr().out
    call_command("seed_demo", accounts=1)
    second = capsys.readouterr().out

    User = get_user_model()
    agent = User.objects.get(username="agent@example.com")
    manager = User.objects.get(username="manager@example.com")
    password = first.split("agent@example.com")[1].split("password:")[1].split()[0]
    assert agent.check_password(password)
    assert is_manager(manager) and not is_manager(agent)
    assert first.splitlines()[:3] == second.splitlines()[:3]
    assert (var_dir / "demo-operators.txt").stat().st_mode & 0o077 == 0


def test_it_leaves_one_agents_adjustment_waiting_for_the_manager(program, var_dir, capsys):
    call_command("seed_demo", accounts=20)
    call_command("seed_demo", accounts=20)

    held = ApprovalRequest.objects.get()
    program.refresh_from_db()
    assert held.status == ApprovalRequest.Status.PENDING
    assert held.requested_by.username == "agent@example.com"
    assert held.points > program.approval_threshold == 500
    held.account.refresh_from_db()
    assert held.account.balance == held.account.events.latest("created_at").balance_after
    assert "waits for approval" in capsys.readouterr().out


def test_it_seeds_reward_tiers_and_an_issued_and_a_redeemed_reward(program, var_dir, capsys):
    call_command("seed_demo", accounts=40)
    call_command("seed_demo", accounts=40)

    assert list(RewardTier.objects.filter(program=program).values_list("points", flat=True)) == [
        150,
        400,
        1_000,
    ]
    statuses = sorted(Reward.objects.values_list("status", flat=True))
    assert statuses == ["ISSUED", "REDEEMED"]
    assert ledger_discrepancies() == [] and tally_discrepancies() == []
    assert "a redeemed and an open reward" in capsys.readouterr().out


def test_it_shows_a_stopped_bulk_batch_and_a_command_line_key(program, var_dir, capsys):
    from ledger.management.demo_operations import COMMAND_LINE_CLIENT, STOPPED_FILE
    from ledger.models import BulkBatch
    from loyalty_admin.models import AuditEntry

    call_command("seed_demo", accounts=20)
    call_command("seed_demo", accounts=20)

    batch = BulkBatch.objects.get(filename=STOPPED_FILE)
    assert batch.status == BulkBatch.Status.FAILED
    assert batch.failure.startswith("The job worker stopped while applying this file")
    entry = AuditEntry.objects.get(action="api_client.created")
    assert entry.details["via"] == "command line"
    assert COMMAND_LINE_CLIENT in entry.summary


def test_it_shows_a_disabled_webhook_subscription_on_loopback_with_a_log(program, var_dir):
    from ledger.models import WebhookSubscription

    call_command("seed_demo", accounts=20)
    call_command("seed_demo", accounts=20)

    subscription = WebhookSubscription.objects.get()
    assert not subscription.enabled
    assert subscription.notification_url.startswith("http://127.0.0.1:")
    assert subscription.notifications.count() == 3


def test_it_seeds_a_merged_account_a_transfer_and_an_agent_limit(program, var_dir, capsys):
    call_command("seed_demo", accounts=20)
    call_command("seed_demo", accounts=20)

    program.refresh_from_db()
    merged = LoyaltyAccount.objects.get(merged_into__isnull=False)
    assert merged.balance == 0 and merged.merged_into.events.filter(type="MERGE_IN").exists()
    assert LoyaltyEvent.objects.filter(type="TRANSFER_IN").count() == 1
    assert LoyaltyEvent.objects.filter(type="MERGE_IN").count() == 1
    assert program.agent_daily_limit == 5000
    assert LoyaltyAccount.objects.count() == 20
    assert ledger_discrepancies() == [] and tally_discrepancies() == []


# --- The bulk load -------------------------------------------------------------------------------

SEEDED_TABLES = [
    "accounts_loyaltyaccount",
    "ledger_loyaltyevent",
    "ledger_pointlot",
    "ledger_lotconsumption",
]


def schema_of_seeded_tables() -> dict[str, list[tuple]]:
    """Indexes, constraints and triggers of the tables a seed writes, as the catalog has them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE tablename = ANY(%s) ORDER BY 1, 2",
            [SEEDED_TABLES],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid), "
            "condeferrable, condeferred, convalidated, conindid::regclass::text "
            "FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) ORDER BY 1, 2",
            [SEEDED_TABLES],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT tgrelid::regclass::text, tgname, tgenabled, pg_get_triggerdef(oid) "
            "FROM pg_trigger WHERE tgrelid = ANY(%s::regclass[]) AND NOT tgisinternal "
            "ORDER BY 1, 2",
            [SEEDED_TABLES],
        )
        triggers = cursor.fetchall()
    return {"indexes": indexes, "constraints": constraints, "triggers": triggers}


def foreign_key_count(schema) -> int:
    return sum(1 for _, _, kind, *_ in schema["constraints"] if kind == "f")


def seeded_customer_ids() -> list[str]:
    return list(
        LoyaltyAccount.objects.order_by("customer_id").values_list("customer_id", flat=True)
    )


@postgres_only
def test_into_empty_tables_it_loads_then_remakes_exactly_the_migrated_schema(
    program, var_dir, capsys
):
    before = schema_of_seeded_tables()
    assert len(before["indexes"]) > 20 and before["triggers"]  # the append-only triggers

    # Three chunks, built by two worker processes.
    call_command("seed_demo", accounts=25_000, workers=2, verbosity=3)

    out = capsys.readouterr().out
    assert "tables empty: indexes and foreign keys after the load" in out
    assert "ADD CONSTRAINT" in out and "CREATE INDEX" in out
    assert out.count("VALIDATE CONSTRAINT") == foreign_key_count(before)
    assert schema_of_seeded_tables() == before  # every foreign key valid again
    assert LoyaltyAccount.objects.count() == 25_000
    assert seeded_customer_ids() == [f"CUST-{i:07d}" for i in range(25_000)]
    assert LoyaltyEvent.objects.count() > 50_000
    assert ledger_discrepancies() == [] and tally_discrepancies() == []
    # Lots were written with their own ids; the next one the ledger makes comes after them.
    top = PointLot.objects.aggregate(top=Max("id"))["top"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value FROM ledger_pointlot_id_seq")
        assert cursor.fetchone()[0] >= top


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_after_its_commit_it_checks_the_foreign_keys_on_connections_of_its_own(
    program, var_dir, capsys
):
    # The operators' groups come from a migration, which an earlier transactional test's
    # flush may have emptied; the seed's history has an agent in it.
    for group in ROLES.values():
        Group.objects.get_or_create(name=group)
    before = schema_of_seeded_tables()
    checked_on: set[int] = set()

    def note_thread(connection, **kwargs):
        checked_on.add(threading.get_ident())

    connection_created.connect(note_thread)
    try:
        call_command("seed_demo", accounts=12_000, workers=2, no_operators=True, verbosity=3)
    finally:
        connection_created.disconnect(note_thread)

    out = capsys.readouterr().out
    assert "tables empty" in out and "foreign keys checked in" in out
    assert out.count("VALIDATE CONSTRAINT") == foreign_key_count(before)
    # A connection for each table's keys, besides this one.
    # (The lots' keys are checked by their trigger, on PostgreSQL.)
    tables = {table for table, _, kind, *_ in before["constraints"] if kind == "f"}
    assert tables == {"accounts_loyaltyaccount", "ledger_loyaltyevent", "ledger_lotconsumption"}
    assert len(checked_on - {threading.get_ident()}) == len(tables)
    assert schema_of_seeded_tables() == before
    assert LoyaltyAccount.objects.count() == 12_000
    assert ledger_discrepancies() == [] and tally_discrepancies() == []


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_row_that_breaks_a_foreign_key_is_named_and_its_key_stays_not_valid():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE seed_parent (id integer PRIMARY KEY)")
        cursor.execute("INSERT INTO seed_parent VALUES (1)")
        cursor.execute("CREATE TABLE seed_good (parent_id integer)")
        cursor.execute("CREATE TABLE seed_bad (parent_id integer)")
        cursor.execute("INSERT INTO seed_good VALUES (1)")
        cursor.execute("INSERT INTO seed_bad VALUES (1), (2)")
        for table in ("seed_good", "seed_bad"):
            cursor.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {table}_parent "
                "FOREIGN KEY (parent_id) REFERENCES seed_parent NOT VALID"
            )
    try:
        with pytest.raises(IntegrityError, match="seed_bad_parent"):
            validate_foreign_keys(
                [("seed_good", "seed_good_parent"), ("seed_bad", "seed_bad_parent")],
                side_by_side=True,
            )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT conname, convalidated FROM pg_constraint "
                "WHERE conname IN ('seed_good_parent', 'seed_bad_parent') ORDER BY 1"
            )
            assert cursor.fetchall() == [("seed_bad_parent", False), ("seed_good_parent", True)]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE seed_good, seed_bad, seed_parent")


@postgres_only
def test_it_checks_the_foreign_keys_a_seed_stopped_after_its_commit_left_unchecked(
    program, var_dir, capsys
):
    call_command("seed_demo", accounts=50, no_operators=True)
    migrated = schema_of_seeded_tables()
    with connection.cursor() as cursor:  # as a seed leaves them between its commit and checks
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY(%s::regclass[])",
            [SEEDED_TABLES],
        )
        for table, name, definition in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition} NOT VALID')
    assert schema_of_seeded_tables() != migrated
    capsys.readouterr()

    call_command("seed_demo", accounts=50, no_operators=True)

    out = capsys.readouterr().out
    assert f"Checking the {foreign_key_count(migrated)} foreign keys a stopped seed" in out
    assert schema_of_seeded_tables() == migrated
    call_command("seed_demo", accounts=50, no_operators=True)
    assert "Checking" not in capsys.readouterr().out


@postgres_only
def test_into_tables_with_rows_it_tops_up_with_the_indexes_in_place(program, var_dir, capsys):
    call_command("seed_demo", accounts=12_000, workers=2, verbosity=3)
    assert "tables empty" in capsys.readouterr().out
    schema = schema_of_seeded_tables()

    call_command("seed_demo", accounts=25_000, workers=2, verbosity=3)
    call_command("seed_demo", accounts=25_000, workers=2, verbosity=3)

    assert "tables empty" not in capsys.readouterr().out
    assert schema_of_seeded_tables() == schema
    assert seeded_customer_ids() == [f"CUST-{i:07d}" for i in range(25_000)]
    assert ledger_discrepancies() == [] and tally_discrepancies() == []


def test_chunks_are_the_same_whoever_builds_them(program, var_dir):
    from ledger.management.demo_data import ACCOUNT_COLUMNS, build_chunk, demo_plan
    from ledger.management.demo_load import _binary_instances

    plan = demo_plan(program, seed=7, first_account=0)
    one = build_chunk(plan, 0, 500)

    assert build_chunk(plan, 0, 500) == one
    assert build_chunk(plan, 500, 1_000) != one
    # Customer i keeps their customer id and phone whatever the seed; the rest is drawn afresh.
    other = build_chunk(demo_plan(program, seed=8, first_account=0), 0, 500)
    assert other.accounts != one.accounts

    def identities(chunk):
        accounts = _binary_instances(LoyaltyAccount, ACCOUNT_COLUMNS, chunk.accounts)
        return [(account.customer_id, account.phone) for account in accounts]

    assert identities(other) == identities(one)


def test_customer_numbers_past_seven_digits_read_back(program, var_dir):
    from ledger.management.demo_data import ACCOUNT_COLUMNS, build_chunk, demo_plan
    from ledger.management.demo_load import _binary_instances

    plan = demo_plan(program, seed=7, first_account=0)
    chunk = build_chunk(plan, 9_999_998, 10_000_001)

    accounts = list(_binary_instances(LoyaltyAccount, ACCOUNT_COLUMNS, chunk.accounts))
    assert [(a.customer_id, a.pos_account_id) for a in accounts] == [
        ("CUST-9999998", None),
        ("CUST-9999999", None),
        ("CUST-10000000", "POS-10000000"),
    ]
    assert accounts[2].email.endswith("10000000@example.com")


def test_on_sqlite_or_postgresql_a_multi_chunk_seed_is_consistent(program, var_dir):
    call_command("seed_demo", accounts=10_500, workers=2, no_operators=True)

    assert LoyaltyAccount.objects.count() == 10_500
    assert ledger_discrepancies() == [] and tally_discrepancies() == []
    # History in both directions: earned, spent, expired.
    kinds = set(LoyaltyEvent.objects.values_list("type", "reason__code").distinct())
    assert {("ACCUMULATE_POINTS", None), ("EXPIRE_POINTS", None)} <= kinds
    assert ("ADJUST_POINTS", "REDEEM_DISCOUNT") in kinds
