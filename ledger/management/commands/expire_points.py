from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts.models import LoyaltyAccount
from ledger.models import PointLot
from ledger.services import expire_points


class Command(BaseCommand):
    help = (
        "Expire points whose lots are past their expiry date: one EXPIRE_POINTS event per "
        "account. Idempotent and safe to run from cron every minute, even twice at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=1_000, help="Accounts per query.")

    def handle(self, *args, batch: int, **options):
        now = timezone.now()
        expired_accounts = expired_points = 0
        after = None
        while True:
            # Keyset over account ids with points due; each account is its own transaction,
            # so a long run never holds more than one account's lock.
            due = PointLot.objects.filter(is_open=True, expires_at__lte=now)
            if after is not None:
                due = due.filter(account_id__gt=after)
            account_ids = list(
                due.order_by("account_id").values_list("account_id", flat=True).distinct()[:batch]
            )
            if not account_ids:
                break
            for account in LoyaltyAccount.objects.filter(pk__in=account_ids).order_by("pk"):
                event = expire_points(account=account, now=now)
                if event is not None:
                    expired_accounts += 1
                    expired_points -= event.points
            after = account_ids[-1]
        self.stdout.write(f"Expired {expired_points:,} points on {expired_accounts:,} accounts.")
