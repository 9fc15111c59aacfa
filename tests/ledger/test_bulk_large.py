"""A 100,000-row file applies on PostgreSQL (its speed is measured by `make bench`)."""

from django.utils import timezone

from accounts.models import LoyaltyAccount
from ledger import services
from ledger.models import LoyaltyEvent
from ledger.selectors import ledger_discrepancies
from ledger.services import Actor

from ..conftest import postgres_only

ROWS, CUSTOMERS = 100_000, 20_000


@postgres_only
def test_a_100k_row_file_applies_whole(program, manager):
    now = timezone.now()
    LoyaltyAccount.objects.bulk_create(
        LoyaltyAccount(
            program=program,
            customer_id=f"BULK-{i:05d}",
            enrolled_at=now,
            created_at=now,
            updated_at=now,
        )
        for i in range(CUSTOMERS)
    )
    # Per customer: +30, +20, -25, +10, -5 (in that order) → balance 30, points earned 50.
    pattern = [
        (30, "REWARD"),
        (20, "REWARD"),
        (-25, "REDEEM_DISCOUNT"),
        (10, "REFUND_DEDUCTED"),
        (-5, "EXPIRE_NOW"),
    ]
    lines = ["customer_id,points,reason,history_title"]
    for step, (points, reason) in enumerate(pattern):
        lines += [f"BULK-{i:05d},{points},{reason},Step {step}" for i in range(CUSTOMERS)]
    batch, check = services.upload_bulk_file(
        program=program,
        actor=Actor.of_operator(manager),
        filename="big.csv",
        data="\n".join(lines).encode(),
    )
    assert (check.rows, check.errors) == (ROWS, [])

    services.apply_batch(batch=batch)

    batch.refresh_from_db()
    assert (batch.status, batch.rows_applied) == ("APPLIED", ROWS)
    assert LoyaltyEvent.objects.filter(batch=batch).count() == ROWS
    totals = set(
        LoyaltyAccount.objects.filter(customer_id__startswith="BULK-").values_list(
            "balance", "lifetime_points"
        )
    )
    assert totals == {(30, 50)}
    assert ledger_discrepancies() == []
