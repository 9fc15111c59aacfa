"""Invariant 4 and 5 with real threads and real row locks (PostgreSQL)."""

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from ledger import services
from ledger.exceptions import InsufficientPoints
from ledger.models import LoyaltyEvent

from ..conftest import postgres_only

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]

UI = LoyaltyEvent.Source.ADMIN_UI


def run_in_threads(n: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run work(i) in n threads released at once; return what they raised."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:  # collected and asserted on by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_adjustments_add_exactly(account, reasons, manager):
    def work(_: int) -> None:
        for _ in range(10):
            services.adjust_points(
                account=account,
                points=1,
                reason=reasons["REWARD"],
                actor=services.Actor.of_operator(manager, source=UI),
            )

    assert run_in_threads(20, work) == []

    account.refresh_from_db()
    assert account.balance == 200
    assert account.events.count() == 200
    assert sorted(account.events.values_list("balance_after", flat=True)) == list(range(1, 201))


def test_concurrent_overdraft_lets_exactly_enough_through(account, reasons, manager):
    services.adjust_points(
        account=account,
        points=100,
        reason=reasons["REWARD"],
        actor=services.Actor.of_operator(manager, source=UI),
    )

    def work(_: int) -> None:
        services.adjust_points(
            account=account,
            points=-10,
            reason=reasons["REDEEM_DISCOUNT"],
            actor=services.Actor.of_operator(manager, source=UI),
        )

    errors = run_in_threads(20, work)

    assert len(errors) == 10 and all(isinstance(e, InsufficientPoints) for e in errors)
    account.refresh_from_db()
    assert account.balance == 0
    assert account.events.filter(points=-10).count() == 10


def test_concurrent_retries_of_one_request_apply_once(account, reasons, manager):
    results: list[LoyaltyEvent] = []

    def work(_: int) -> None:
        results.append(
            services.adjust_points(
                account=account,
                points=5,
                reason=reasons["REWARD"],
                actor=services.Actor.of_operator(manager, source=UI),
                idempotency_key="same-request",
            ).event
        )

    assert run_in_threads(20, work) == []

    account.refresh_from_db()
    assert account.balance == 5
    assert account.events.count() == 1
    assert {e.pk for e in results} == {account.events.get().pk}


def test_concurrent_reversals_of_one_event_reverse_once(account, reasons, manager):
    event = services.adjust_points(
        account=account,
        points=5,
        reason=reasons["REWARD"],
        actor=services.Actor.of_operator(manager, source=UI),
    ).event

    errors = run_in_threads(
        2,
        lambda i: services.reverse_event(
            event=event, note=f"try {i}", actor=services.Actor.of_operator(manager, source=UI)
        ),
    )

    assert len(errors) == 1
    account.refresh_from_db()
    assert account.balance == 0
    assert LoyaltyEvent.objects.filter(reverses=event).count() == 1


def test_concurrent_expiry_runs_expire_once(program, account, reasons, manager):
    program.expiration_policy = "PT1S"
    program.save()
    services.adjust_points(
        account=account,
        points=30,
        reason=reasons["REWARD"],
        actor=services.Actor.of_operator(manager, source=UI),
    )
    later = timezone.now() + timedelta(seconds=5)

    errors = run_in_threads(4, lambda _: services.expire_points(account=account, now=later))

    assert errors == []
    account.refresh_from_db()
    assert account.balance == 0
    assert account.events.filter(type=LoyaltyEvent.Type.EXPIRE_POINTS).count() == 1
