"""Points expire by lots: earned points expire after the program's policy, spending takes the
soonest-expiring points first, and the expiry job is idempotent."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from ledger import services
from ledger.models import LoyaltyEvent, PointLot
from ledger.selectors import ledger_discrepancies, upcoming_expirations

from ..conftest import postgres_only
from ..factories import AccountFactory

UI = LoyaltyEvent.Source.ADMIN_UI
START = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
def program(program):
    program.expiration_policy = "P30D"
    program.save()
    return program


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def adjust(account, points, reason, actor, **kwargs):
    return services.adjust_points(
        account=account,
        points=points,
        reason=reason,
        actor=services.Actor.of_operator(actor, source=UI),
        **kwargs,
    ).event


def lots(account):
    # The frozen clock makes the ledger space an account's events a microsecond apart.
    return [
        (points, remaining, expires_at.replace(microsecond=0) if expires_at else None)
        for points, remaining, expires_at in PointLot.objects.filter(account=account)
        .order_by("created_at")
        .values_list("points", "remaining", "expires_at")
    ]


def test_it_expires_exactly_the_unspent_remainder(clock, program, account, reasons, manager):
    adjust(account, 100, reasons["REWARD"], manager)
    clock.shift(timedelta(days=10))
    adjust(account, 50, reasons["REWARD"], manager)
    adjust(account, -30, reasons["REDEEM_DISCOUNT"], manager)  # taken from the first lot

    clock.move_to(START + timedelta(days=30, seconds=1))
    call_command("expire_points")

    account.refresh_from_db()
    assert account.balance == 50
    expiry = account.events.get(type=LoyaltyEvent.Type.EXPIRE_POINTS)
    assert (expiry.points, expiry.source, expiry.affects_lifetime) == (-70, "SYSTEM", False)
    assert account.lifetime_points == 150
    assert lots(account) == [
        (100, 0, START + timedelta(days=30)),
        (50, 50, START + timedelta(days=40)),
    ]
    assert ledger_discrepancies() == []


def test_it_expires_nothing_before_the_deadline(clock, program, account, reasons, manager):
    adjust(account, 100, reasons["REWARD"], manager)

    clock.move_to(START + timedelta(days=29))
    call_command("expire_points")

    assert account.events.count() == 1


def test_running_the_job_twice_expires_once(clock, program, account, reasons, manager):
    adjust(account, 100, reasons["REWARD"], manager)
    clock.move_to(START + timedelta(days=31))

    call_command("expire_points")
    call_command("expire_points")

    account.refresh_from_db()
    assert account.balance == 0
    assert account.events.filter(type=LoyaltyEvent.Type.EXPIRE_POINTS).count() == 1


def test_spending_takes_the_soonest_expiring_points_first(
    clock, program, account, reasons, manager
):
    adjust(account, 10, reasons["REWARD"], manager)
    clock.shift(timedelta(days=1))
    adjust(account, 20, reasons["REWARD"], manager)
    clock.shift(timedelta(days=1))

    adjust(account, -25, reasons["EXPIRE_NOW"], manager)

    assert [remaining for _, remaining, _ in lots(account)] == [0, 5]


def test_reversing_a_redemption_gives_back_the_lots_it_took(
    clock, program, account, reasons, manager
):
    adjust(account, 10, reasons["REWARD"], manager)
    clock.shift(timedelta(days=1))
    adjust(account, 20, reasons["REWARD"], manager)
    redemption = adjust(account, -25, reasons["REDEEM_DISCOUNT"], manager)

    services.reverse_event(
        event=redemption, note="refund", actor=services.Actor.of_operator(manager, source=UI)
    )

    assert [remaining for _, remaining, _ in lots(account)] == [10, 20]
    clock.move_to(START + timedelta(days=30, hours=1))
    call_command("expire_points")
    account.refresh_from_db()
    assert account.balance == 20  # the first lot's 10 expired on its own date
    assert ledger_discrepancies() == []


def test_reversing_an_earning_takes_back_its_own_lot(clock, program, account, reasons, manager):
    adjust(account, 10, reasons["REWARD"], manager)
    clock.shift(timedelta(days=1))
    second = adjust(account, 20, reasons["REWARD"], manager)

    services.reverse_event(
        event=second, note="wrong customer", actor=services.Actor.of_operator(manager, source=UI)
    )

    assert [remaining for _, remaining, _ in lots(account)] == [10, 0]


def test_lots_pay_back_a_negative_balance_first(clock, program, account, reasons, manager):
    adjust(account, -40, reasons["REDEEM_DISCOUNT"], manager, allow_negative=True)

    adjust(account, 100, reasons["REWARD"], manager)

    assert lots(account) == [(60, 60, START + timedelta(days=30))]
    assert ledger_discrepancies() == []


def test_rebuilt_lots_equal_the_lots_kept_in_step(clock, program, account, reasons, manager):
    adjust(account, 10, reasons["REWARD"], manager)
    clock.shift(timedelta(days=2))
    earned = adjust(account, 20, reasons["REWARD"], manager)
    spent = adjust(account, -15, reasons["REDEEM_DISCOUNT"], manager)
    services.reverse_event(
        event=spent, note="refund", actor=services.Actor.of_operator(manager, source=UI)
    )
    services.reverse_event(
        event=earned, note="mistake", actor=services.Actor.of_operator(manager, source=UI)
    )
    kept = lots(account)

    services.rebuild_lots(account=account)

    assert lots(account) == kept


def test_rebuilding_one_account_leaves_every_other_accounts_lots(
    clock, program, account, reasons, manager
):
    other = AccountFactory(program=program)
    adjust(account, 30, reasons["REWARD"], manager)
    adjust(other, 50, reasons["REWARD"], manager)
    clock.shift(timedelta(days=1))
    services.transfer_points(
        source=other,
        target=account,
        points=20,
        reason="Household",
        actor=services.Actor.of_operator(manager, source=UI),
    )
    adjust(other, -10, reasons["REDEEM_DISCOUNT"], manager)
    kept, kept_other = lots(account), lots(other)
    assert len(kept) == 2  # its own and the one the transfer brought

    services.rebuild_lots(account=account)

    assert lots(account) == kept
    assert lots(other) == kept_other
    assert ledger_discrepancies() == []


def test_upcoming_expirations_group_points_by_deadline(clock, program, account, reasons, manager):
    adjust(account, 10, reasons["REWARD"], manager)
    adjust(account, 5, reasons["REWARD"], manager)
    clock.shift(timedelta(days=3))
    adjust(account, 7, reasons["REWARD"], manager)

    deadlines = upcoming_expirations(account=account)

    assert [(d.points, d.expires_at.date().isoformat()) for d in deadlines] == [
        (15, "2026-01-31"),
        (7, "2026-02-03"),
    ]


def test_upcoming_expirations_stop_at_the_limit_in_one_statement(
    clock, program, account, reasons, manager, django_assert_num_queries
):
    for points in (1, 2, 3, 4):
        adjust(account, points, reasons["REWARD"], manager)
        clock.shift(timedelta(days=1))

    with django_assert_num_queries(1):
        deadlines = upcoming_expirations(account=account, limit=2)

    assert [(d.points, d.expires_at.date().isoformat()) for d in deadlines] == [
        (1, "2026-01-31"),
        (2, "2026-02-01"),
    ]


def test_points_never_expire_without_a_policy(clock, program, account, reasons, manager):
    program.expiration_policy = ""
    program.save()
    adjust(account, 10, reasons["REWARD"], manager)

    clock.move_to(START + timedelta(days=3650))
    call_command("expire_points")

    account.refresh_from_db()
    assert account.balance == 10
    assert upcoming_expirations(account=account) == []


def _lot_updates() -> tuple[int, int]:
    """(updates, HOT updates) of lots in this transaction so far (PostgreSQL's counters)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = %s",
            [PointLot._meta.db_table],
        )
        return cursor.fetchone()


@postgres_only
def test_spending_part_of_a_lot_touches_none_of_its_indexes(
    clock, program, account, reasons, manager
):
    adjust(account, 10, reasons["REWARD"], manager)
    adjust(account, 30, reasons["REWARD"], manager)
    before = _lot_updates()

    adjust(account, -25, reasons["EXPIRE_NOW"], manager)  # empties the first, 15 of the second

    updates, hot = (after - was for after, was in zip(_lot_updates(), before, strict=True))
    assert updates == 2
    # The lot left with points keeps its place in every index (a heap-only update); the one
    # emptied leaves the open-lot indexes, so it cannot.
    assert hot == 1
    assert list(
        PointLot.objects.filter(account=account)
        .order_by("created_at")
        .values_list("remaining", "is_open")
    ) == [(0, False), (15, True)]
