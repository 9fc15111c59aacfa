"""The operations side of the demo: a bulk batch whose job worker stopped (failed with the
reason on its page, as `recover_bulk_batches` leaves it) and an API key created on the
command line (the audit log names "Command line" as its actor). Idempotent."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import LoyaltyAccount, Program
from ledger.models import BulkBatch, LoyaltyEvent
from ledger.services import Actor, recover_stale_batches, upload_bulk_file
from loyalty_admin.models import ApiClient
from loyalty_admin.services import issue_api_client

STOPPED_FILE = "demo-worker-stopped.csv"
COMMAND_LINE_CLIENT = "Warehouse sync (command line)"


def seed_operations(program: Program) -> list[str]:
    """Make what is missing; a line for each thing made."""
    made = []
    manager = get_user_model().objects.filter(username="manager@example.com").first()
    live = LoyaltyAccount.objects.filter(program=program, merged_into__isnull=True)
    account = live.order_by("customer_id").first()
    if manager and account and not BulkBatch.objects.filter(filename=STOPPED_FILE).exists():
        content = f"customer_id,points,reason\n{account.customer_id},50,REWARD\n"
        actor = Actor.of_operator(manager, source=LoyaltyEvent.Source.BULK_IMPORT)
        batch, _ = upload_bulk_file(
            program=program, actor=actor, filename=STOPPED_FILE, data=content.encode()
        )
        BulkBatch.objects.filter(pk=batch.pk).update(
            status=BulkBatch.Status.APPLYING,
            attempts=settings.BULK_MAX_ATTEMPTS,
            applying_since=timezone.now() - timedelta(seconds=settings.BULK_STALE_SECONDS + 60),
        )
        recover_stale_batches()
        made.append(f"A bulk batch whose worker stopped: {STOPPED_FILE} (failed, with why).")
    if not ApiClient.objects.filter(name=COMMAND_LINE_CLIENT).exists():
        issue_api_client(name=COMMAND_LINE_CLIENT, scopes="read", rate_limit=60, by=None)
        made.append(f"An API key created on the command line: {COMMAND_LINE_CLIENT}.")
    return made
