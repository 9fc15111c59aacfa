"""apply_batch writes in batches; it must leave exactly what adjust_points would, row by row."""

import json

from ledger import lookups, services
from ledger.models import LotConsumption, LoyaltyEvent, PointLot, WebhookNotification
from ledger.selectors import ledger_discrepancies
from ledger.services import Actor, bulk_writer, webhooks

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


def _apply_both(program, reasons, manager, rows, *, source=None):
    """The same rows (name, points, code, title, note) applied by a bulk file to the "bulk"
    customers and by adjust_points, one by one, to the "single" ones."""
    bulk = make_customers(program, reasons, manager, "bulk")
    single = make_customers(program, reasons, manager, "single")
    lines = "".join(
        f'bulk-{name},{points},{code},"{title}","{note}",\n'
        for name, points, code, title, note in rows
    )
    batch, check = services.upload_bulk_file(
        program=program,
        actor=Actor.of_operator(manager),
        filename="rows.csv",
        data=(HEADER + lines).encode(),
    )
    assert check.errors == []
    services.apply_batch(batch=batch)
    actor = Actor.of_operator(manager, source=source or LoyaltyEvent.Source.ADMIN_UI)
    for name, points, code, title, note in rows:
        services.adjust_points(
            account=single[name],
            points=points,
            reason=reasons[code],
            history_title=title,
            note=note,
            actor=actor,
        )
    return bulk, single


def test_texts_are_stored_as_written(program, reasons, manager):
    # Tabs, line breaks and backslashes are what COPY's text format escapes.
    rows = [
        ("ann", 5, "REWARD", "Tab\there", "Line one\nline two"),
        ("bob", -5, "REDEEM_DISCOUNT", "Back\\slash \\N", "Carriage\r\nreturn, “quotes”"),
    ]
    bulk, single = _apply_both(program, reasons, manager, rows)
    for name in ("ann", "bob"):
        texts = [
            list(
                LoyaltyEvent.objects.filter(account=people[name])
                .order_by("created_at", "id")
                .values_list("history_title", "note")
            )[-1]
            for people in (bulk, single)
        ]
        assert texts[0] == texts[1]
        assert ledger_of(bulk[name]) == ledger_of(single[name])
    assert texts[0] == ("Back\\slash \\N", "Carriage\r\nreturn, “quotes”")


def _outbox(account) -> list:
    """The account's webhook notifications, without what differs between two customers (ids,
    times, identities)."""
    kept = []
    for notification in WebhookNotification.objects.filter(account_id=account.pk).order_by("id"):
        body = json.loads(notification.body)
        [(kind, obj)] = body["data"]["object"].items()
        for key in ("id", "created_at", "updated_at", "enrolled_at", "loyalty_account_id"):
            obj.pop(key, None)
        obj.pop("customer_id", None)
        obj.pop("mapping", None)
        kept.append((notification.event_type, notification.subscription_id, kind, obj))
    return kept


def test_the_webhook_outbox_gets_what_adjusting_row_by_row_writes(program, reasons, manager):
    webhooks.create_subscription(
        notification_url="http://127.0.0.1:9/hooks",
        event_types=["loyalty.event.created", "loyalty.account.updated"],
        actor=Actor.of_operator(manager),
    )
    rows = [(name, points, code, f"Line {i}", "") for i, (name, points, code) in enumerate(ROWS)]
    bulk, single = _apply_both(
        program, reasons, manager, rows, source=LoyaltyEvent.Source.BULK_IMPORT
    )
    for name in bulk:
        outbox = _outbox(bulk[name])
        assert outbox == _outbox(single[name]), name
    assert len(_outbox(bulk["ann"])) == 2 * (5 + 2)  # two per event: 2 before the file, 5 in it


def test_the_file_is_refused_for_what_a_single_adjustment_is_refused(program, reasons, manager):
    """Each row's errors are the problems `preview_adjustment` reports for that adjustment."""
    people = make_customers(program, reasons, manager, "rules")
    closed = AccountFactory(program=program, customer_id="rules-closed")
    services.merge_accounts(source=closed, target=people["cat"], actor=Actor.of_operator(manager))
    people["eve"] = AccountFactory(program=program, customer_id="rules-eve")
    services.adjust_points(  # 50 points, none of them earned
        account=people["eve"],
        points=50,
        reason=reasons["REFUND_DEDUCTED"],
        actor=Actor.of_operator(manager),
    )
    reasons["REFUND_DEDUCTED"].requires_note = True
    reasons["REFUND_DEDUCTED"].save()
    lookups.forget_reasons()
    rows = [
        ("ann", -1_000, "REDEEM_DISCOUNT", ""),  # more than the balance
        ("eve", -10, "REMOVE_EARNED", ""),  # more than the points earned
        ("cat", -5, "REWARD", ""),  # the reason adds points
        ("dan", 5, "REFUND_DEDUCTED", ""),  # a note is required
        ("closed", 5, "REWARD", ""),  # merged into cat
        ("ann", 5, "REWARD", "x" * 201),  # title too long
        ("ann", 0, "REWARD", ""),  # nothing to move
    ]
    accounts = {**people, "closed": closed}
    for account in accounts.values():
        account.refresh_from_db()
    text = HEADER + "".join(
        f"rules-{name},{points},{code},{title},,\n" for name, points, code, title in rows
    )
    _, check = services.upload_bulk_file(
        program=program, actor=Actor.of_operator(manager), filename="bad.csv", data=text.encode()
    )
    for line, (name, points, code, title) in enumerate(rows, start=2):
        preview = services.preview_adjustment(
            account=accounts[name],
            points=points,
            reason=reasons[code],
            history_title=title,
            actor=Actor.of_operator(manager),
        )
        expected = [(p.field or "points", p.message) for p in preview.problems]
        assert expected, line
        assert [(e.field, e.message) for e in check.errors if e.line == line] == expected, line
