from django.core.management.base import BaseCommand

from ledger.services import recover_stale_batches


class Command(BaseCommand):
    help = (
        "Requeue bulk batches whose job worker stopped mid-apply (no heartbeat for "
        "BULK_STALE_SECONDS), or fail them with the reason after BULK_MAX_ATTEMPTS tries. "
        "Safe to run from cron every minute."
    )

    def handle(self, *args, **options):
        for batch in recover_stale_batches():
            self.stdout.write(f"Batch {batch.pk} ({batch.filename}): {batch.get_status_display()}")
