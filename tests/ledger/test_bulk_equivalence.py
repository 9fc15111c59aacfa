"""apply_batch writes in batches; it must leave exactly what adjust_points would, row by row."""

from ledger import services
from ledger.models import LotConsumption, LoyaltyEvent, PointLot
from ledger.selectors import ledger_discrepancies
from ledger.services import Actor, bulk_writer

from ..factories import AccountFactory

HEADER = "customer_id,points,reason,history_title,note,visible_to_customer\n"

# (customer, points, reason): earnings and spendings interleaved over several customers,
# spending lots made earlier in the same file, emptying some lots and splitting others.
ROWS = [
    ("ann", 30, "REWARD"),
    ("bob", -40, "REDEEM_DISCOUNT"),
    ("ann", -120, "REDEEM_DISCOUNT"),
    ("cat", 15, "REFUND_DEDUCTED"),
    ("bob", 25, "REWARD"),
    ("ann", -45, "REMOVE_EARNED"),
    ("dan", 60, "REFUND_DEDUCTED"),
    ("bob", -55, "REDEEM_DISCOUNT"),
    ("cat", -5, "REDEEM_DISCOUNT"),
    ("ann", 10, "REWARD"),
    ("ann", -12, "REDEEM_DISCOUNT"),
]


def make_customers(program, reasons, manager, tag: str) -> dict:
    """Four customers with the same history: lots of two expiry policies, a partly spent lot,
    and one customer below zero (an override) so that an earning first pays the debt back."""
    people = {
        name: AccountFactory(program=program, customer_id=f"{tag}-{name}")
        for name in ("ann", "bob", "cat", "dan")
    }

    def adjust(name, points, code, allow_negative=False):
        services.adjust_points(
            account=people[name],
            points=points,
            reason=reasons[code],
            actor=Actor.of_operator(manager),
            allow_negative=allow_negative,
        )

    program.expiration_policy = "P24M"
    program.save()
    adjust("ann", 100, "REWARD")
    adjust("bob", 80, "REWARD")
    program.expiration_policy = "P1M"  # newer lots that expire before the older ones
    program.save()
    adjust("ann", 50, "REWARD")
    adjust("bob", 20, "REFUND_DEDUCTED")
    adjust("bob", -30, "REDEEM_DISCOUNT")
    adjust("dan", -20, "REDEEM_DISCOUNT", allow_negative=True)
    program.expiration_policy = "P6M"
    program.save()
    return people


def ledger_of(account) -> dict:
    account.refresh_from_db()
    events = list(LoyaltyEvent.objects.filter(account=account).order_by("created_at", "id"))
    position = {e.pk: i for i, e in enumerate(events)}
    lots = PointLot.objects.filter(account=account).order_by("created_at", "id")
    consumptions = LotConsumption.objects.filter(event__account=account).select_related("lot")
    return {
        "balance": (account.balance, account.lifetime_points),
        "events": [
            (e.points, e.balance_after, e.lifetime_after, e.affects_lifetime, e.reason.code)
            for e in events
        ],
        "lots": [
            (position[lot.event_id], lot.points, lot.remaining, lot.expires_at - lot.created_at)
            for lot in lots
        ],
        "consumptions": sorted(
            (position[c.event_id], position[c.lot.event_id], c.points) for c in consumptions
        ),
    }


def test_bulk_leaves_what_adjusting_row_by_row_leaves(program, reasons, manager):
    bulk = make_customers(program, reasons, manager, "bulk")
    single = make_customers(program, reasons, manager, "single")

    text = HEADER + "".join(
        f"bulk-{name},{points},{code},Line {i},,\n" for i, (name, points, code) in enumerate(ROWS)
    )
    batch, check = services.upload_bulk_file(
        program=program, actor=Actor.of_operator(manager), filename="mixed.csv", data=text.encode()
    )
    assert check.errors == []
    services.apply_batch(batch=batch)
    for i, (name, points, code) in enumerate(ROWS):
        services.adjust_points(
            account=single[name],
            points=points,
            reason=reasons[code],
            history_title=f"Line {i}",
            actor=Actor.of_operator(manager),
        )

    for name in bulk:
        assert ledger_of(bulk[name]) == ledger_of(single[name]), name
    assert ledger_of(bulk["ann"])["consumptions"]  # the file did spend from lots
    assert ledger_discrepancies() == []


def test_bulk_updates_lots_spent_in_a_later_chunk(program, reasons, manager, monkeypatch):
    monkeypatch.setattr(bulk_writer, "BULK_WRITE_ROWS", 2)
    bulk = make_customers(program, reasons, manager, "bulk")
    single = make_customers(program, reasons, manager, "single")
    text = HEADER + "".join(
        f"bulk-{name},{points},{code},Line {i},,\n" for i, (name, points, code) in enumerate(ROWS)
    )
    batch, _ = services.upload_bulk_file(
        program=program, actor=Actor.of_operator(manager), filename="mixed.csv", data=text.encode()
    )
    services.apply_batch(batch=batch)
    for i, (name, points, code) in enumerate(ROWS):
        services.adjust_points(
            account=single[name],
            points=points,
            reason=reasons[code],
            history_title=f"Line {i}",
            actor=Actor.of_operator(manager),
        )

    for name in bulk:
        assert ledger_of(bulk[name]) == ledger_of(single[name]), name
    assert ledger_discrepancies() == []
