from django.core.management.base import BaseCommand

from ledger.services.webhook_delivery import wake_all


class Command(BaseCommand):
    help = (
        "Queue a delivery job (run by `manage.py db_worker`) for every enabled webhook "
        "subscription with notifications waiting. Each change queues its own job already; "
        "this is the safety net after a worker was killed, safe to run from cron every minute."
    )

    def handle(self, *args, **options):
        queued = wake_all()
        self.stdout.write(f"Queued delivery for {queued} subscription(s).")
