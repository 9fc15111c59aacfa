from django.core.management.base import BaseCommand, CommandError

from ledger.selectors import ledger_discrepancies, reference_discrepancies, tally_discrepancies


class Command(BaseCommand):
    help = (
        "Check the ledger's invariants (balances and points earned equal their events' sums, "
        "unbroken balance chains, lots in step, the explorer's tallies equal to their events' "
        "sums, every program, reason, operator and batch that events name present): exits 1 "
        "listing every discrepancy. Run it "
        "after a restore, and from monitoring daily."
    )

    def handle(self, *args, **options):
        found = [
            *map(str, ledger_discrepancies()),
            *tally_discrepancies(),
            *reference_discrepancies(),
        ]
        for discrepancy in found:
            self.stdout.write(discrepancy)
        if found:
            raise CommandError(f"{len(found)} discrepancies in the ledger.")
        self.stdout.write("The ledger is consistent.")
