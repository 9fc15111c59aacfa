from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ledger.services import prune_idempotency_records


class Command(BaseCommand):
    help = (
        "Delete idempotency records older than --days (IDEMPOTENCY_RETENTION_DAYS, default "
        "30). Events are never pruned. Safe to run from cron daily, even twice at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Retention window in days.")

    def handle(self, *args, days: int | None, **options):
        days = settings.IDEMPOTENCY_RETENTION_DAYS if days is None else days
        try:
            deleted = prune_idempotency_records(older_than=timedelta(days=days))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Deleted {deleted:,} idempotency records older than {days} days.")
