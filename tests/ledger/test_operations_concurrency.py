"""Merges, transfers and each agent's daily limit with real threads and row locks
(PostgreSQL)."""

import pytest

from ledger import services
from ledger.exceptions import AccountClosed
from ledger.models import ApprovalRequest, LoyaltyEvent
from ledger.selectors import ledger_discrepancies

from ..conftest import postgres_only
from ..factories import AccountFactory
from .test_concurrency import run_in_threads

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


def funded(program, reasons, manager, points=1000):
    account = AccountFactory(program=program)
    services.adjust_points(
        account=account,
        points=points,
        reason=reasons["REWARD"],
        actor=services.Actor.of_operator(manager),
    )
    return account


def test_transfers_both_ways_serialise_without_deadlock(program, reasons, manager):
    # Locking the giver first would deadlock here: each thread would hold one account and
    # wait for the other. Both are locked in one fixed order instead.
    first, second = funded(program, reasons, manager), funded(program, reasons, manager)

    def work(i: int) -> None:
        pair = (first, second) if i % 2 else (second, first)
        for _ in range(5):
            services.transfer_points(
                source=pair[0],
                target=pair[1],
                points=1,
                reason="both ways",
                actor=services.Actor.of_operator(manager),
            )

    assert run_in_threads(20, work) == []

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.balance, second.balance) == (1000, 1000)
    assert LoyaltyEvent.objects.filter(type=LoyaltyEvent.Type.TRANSFER_IN).count() == 100
    assert ledger_discrepancies() == []


def test_a_merge_and_adjustments_on_the_same_accounts_serialise(program, reasons, manager):
    source, target = funded(program, reasons, manager), funded(program, reasons, manager)

    def work(i: int) -> None:
        actor = services.Actor.of_operator(manager)
        if i == 0:
            services.merge_accounts(source=source, target=target, actor=actor)
        elif i == 1:
            services.merge_accounts(source=target, target=source, actor=actor)
        else:
            services.adjust_points(
                account=(source, target)[i % 2],
                points=1,
                reason=reasons["REWARD"],
                actor=actor,
            )

    errors = run_in_threads(12, work)

    assert errors and all(isinstance(e, AccountClosed) for e in errors)
    source.refresh_from_db()
    target.refresh_from_db()
    survivor = target if source.merged_into_id else source
    applied = LoyaltyEvent.objects.filter(type=LoyaltyEvent.Type.ADJUST_POINTS, points=1)
    assert survivor.balance == 2000 + applied.count()
    assert len(errors) == 1 + (10 - applied.count())  # the second merge, and late adjustments
    assert ledger_discrepancies() == []


def test_concurrent_small_grants_past_the_daily_limit_are_held(program, reasons, agent):
    program.agent_daily_limit = 100
    program.save()
    accounts = [AccountFactory(program=program) for _ in range(20)]

    def work(i: int) -> None:
        services.adjust_points(
            account=accounts[i],
            points=10,
            reason=reasons["REWARD"],
            actor=services.Actor.of_operator(agent),
        )

    assert run_in_threads(20, work) == []

    applied = LoyaltyEvent.objects.filter(actor=agent, type=LoyaltyEvent.Type.ADJUST_POINTS)
    assert applied.count() == 10
    assert sum(applied.values_list("points", flat=True)) == 100
    assert ApprovalRequest.objects.filter(requested_by=agent, points=10).count() == 10
