import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.models import LoyaltyAccount
from ledger.models import ApprovalRequest, LoyaltyEvent
from ledger.selectors import ledger_discrepancies
from loyalty_admin.roles import is_manager


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
    assert ledger_discrepancies() == []
    call_command("seed_demo", accounts=350)
    assert LoyaltyAccount.objects.count() == 350
    assert ledger_discrepancies() == []
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
    assert ledger_discrepancies() == []
