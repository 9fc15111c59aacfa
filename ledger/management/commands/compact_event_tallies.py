from django.core.management.base import BaseCommand

from ledger.services import compact_tallies


class Command(BaseCommand):
    help = (
        "Merge the event tallies that concurrent writers kept apart into one row per quarter "
        "hour and key (PostgreSQL), for the history explorer's totals. Run it from cron "
        "every 15 minutes or so; safe at any time, even twice at once."
    )

    def handle(self, *args, **options):
        merged, kept = compact_tallies()
        self.stdout.write(f"Merged {merged:,} tally rows into {kept:,}.")
