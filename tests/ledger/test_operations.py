"""Merging a customer's duplicate account and transferring points: paired events, lots carried
with their dates, the closed account, refusals, approvals and each agent's daily limit."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import LoyaltyAccount
from ledger import lookups, services
from ledger.exceptions import (
    AccountClosed,
    InsufficientPoints,
    InvalidAmount,
    NotReversible,
    ProgramMismatch,
    ReasonRequired,
    SameAccount,
)
from ledger.models import ApprovalRequest, LoyaltyEvent, PointLot
from ledger.selectors import ledger_discrepancies
from ledger.selectors.grants import agents_use, granted_today

from ..factories import AccountFactory, api_client, operator

START = datetime(2026, 1, 1, 12, tzinfo=UTC)
Type = LoyaltyEvent.Type


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def expiring(program):
    program.expiration_policy = "P30D"
    program.save()
    return program


@pytest.fixture
def other(program):
    return AccountFactory(program=program)


def as_(user):
    return services.Actor.of_operator(user)


def grant(account, points, reasons, user, code="REWARD"):
    reason = reasons[code]
    return services.adjust_points(
        account=account, points=reason.sign * points, reason=reason, actor=as_(user)
    )


def open_lots(account):
    # The frozen clock makes the ledger space an account's events a microsecond apart.
    lots = PointLot.objects.filter(account=account, remaining__gt=0)
    return sorted(
        [
            (n, expires.replace(microsecond=0))
            for n, expires in lots.values_list("remaining", "expires_at")
        ],
        key=lambda lot: (lot[1], lot[0]),
    )


# --- Merge -----------------------------------------------------------------------------------


def test_it_merges_balance_points_earned_and_lots_with_their_dates(
    clock, expiring, account, other, reasons, manager
):
    grant(account, 100, reasons, manager)
    clock.shift(timedelta(days=10))
    grant(account, 50, reasons, manager)
    grant(account, 30, reasons, manager, code="REDEEM_DISCOUNT")  # from the first lot
    grant(other, 5, reasons, manager)
    source_lots = open_lots(account)

    done = services.merge_accounts(source=account, target=other, actor=as_(manager), note="dup")

    account.refresh_from_db()
    other.refresh_from_db()
    assert (account.balance, account.lifetime_points) == (0, 0)
    assert (other.balance, other.lifetime_points) == (125, 155)
    assert account.merged_into == other and account.closed_at == done.out_event.created_at
    out, into = done.out_event, done.in_event
    assert (out.type, out.points, out.earned_moved) == (Type.MERGE_OUT, -120, -150)
    assert (into.type, into.points, into.earned_moved) == (Type.MERGE_IN, 120, 150)
    assert out.counterpart_id == into.pk and into.counterpart_id == out.pk
    assert open_lots(account) == []
    assert set(source_lots) <= set(open_lots(other))
    assert sorted(lot[1] for lot in open_lots(other)) == sorted(
        [START + timedelta(days=30), START + timedelta(days=40), START + timedelta(days=40)]
    )
    assert ledger_discrepancies() == []


def test_merged_lots_expire_at_their_original_dates(
    clock, expiring, account, other, reasons, manager
):
    grant(account, 100, reasons, manager)  # expires on day 30
    clock.shift(timedelta(days=20))
    services.merge_accounts(source=account, target=other, actor=as_(manager))

    services.expire_points(account=other, now=START + timedelta(days=30) - timedelta(seconds=1))
    other.refresh_from_db()
    assert other.balance == 100
    clock.move_to(START + timedelta(days=30, seconds=1))
    expired = services.expire_points(account=other)

    other.refresh_from_db()
    assert expired.points == -100 and other.balance == 0
    assert ledger_discrepancies() == []


def test_the_merged_account_is_closed_but_readable(account, other, reasons, manager):
    grant(account, 10, reasons, manager)
    services.merge_accounts(source=account, target=other, actor=as_(manager))
    account.refresh_from_db()

    with pytest.raises(AccountClosed) as refused:
        grant(account, 5, reasons, manager)
    assert str(refused.value) == (
        f"This account was merged into {other.display_name}; its points are there now."
    )
    with pytest.raises(AccountClosed):
        services.accumulate_points(account=account, points=5, actor=as_(manager))
    assert [e.type for e in account.events.order_by("created_at")] == [
        Type.ADJUST_POINTS,
        Type.MERGE_OUT,
    ]


def test_the_source_identities_find_the_surviving_account(program, account, other, manager):
    services.merge_accounts(source=account, target=other, actor=as_(manager))

    for identity in ({"email": account.email}, {"phone": account.phone}):
        assert lookups.account_by_identity(program=program, **identity) == other
    assert lookups.account_by_identity(program=program, customer_id=account.customer_id) == other


def test_an_earlier_merge_leads_to_the_last_survivor(program, account, other, manager):
    third = AccountFactory(program=program)
    services.merge_accounts(source=account, target=other, actor=as_(manager))
    services.merge_accounts(source=other, target=third, actor=as_(manager))

    account.refresh_from_db()
    assert account.merged_into == third
    assert lookups.account_by_identity(program=program, email=account.email) == third


def test_it_refuses_a_merge_into_itself_a_closed_account_or_another_program(
    account, other, manager
):
    with pytest.raises(SameAccount):
        services.merge_accounts(source=account, target=account, actor=as_(manager))
    foreign = AccountFactory(program=services.create_program(name="Other"))
    with pytest.raises(ProgramMismatch):
        services.merge_accounts(source=account, target=foreign, actor=as_(manager))
    third = AccountFactory(program=account.program)
    services.merge_accounts(source=other, target=third, actor=as_(manager))
    with pytest.raises(AccountClosed) as refused:
        services.merge_accounts(source=account, target=other, actor=as_(manager))
    assert refused.value.field == "target"
    account.refresh_from_db()
    assert account.merged_into is None and account.events.count() == 0


def test_an_agents_merge_above_the_threshold_waits_for_a_manager(
    program, account, other, reasons, manager, agent
):
    program.approval_threshold = 50
    program.save()
    grant(account, 80, reasons, manager)
    account.refresh_from_db()

    preview = services.preview_merge(source=account, target=other, actor=as_(agent))
    held = services.merge_accounts(source=account, target=other, actor=as_(agent))

    assert preview.verdict == "hold" and held.held
    assert held.approval.kind == ApprovalRequest.Kind.MERGE and held.approval.points == 80
    account.refresh_from_db()
    assert account.merged_into is None and account.balance == 80

    event = services.approve_request(request=held.approval, actor=as_(manager))

    account.refresh_from_db()
    other.refresh_from_db()
    assert event.type == Type.MERGE_IN and event.actor == agent
    assert account.merged_into == other and other.balance == 80


def test_the_merge_preview_shows_both_accounts_the_lots_and_the_result(
    clock, expiring, account, other, reasons, manager
):
    grant(account, 70, reasons, manager)
    grant(other, 30, reasons, manager)
    account.refresh_from_db()
    other.refresh_from_db()

    preview = services.preview_merge(source=account, target=other, actor=as_(manager))

    assert (preview.points, preview.earned) == (70, 70)
    assert (preview.target_balance_after, preview.target_lifetime_after) == (100, 100)
    assert [(lot.points, lot.expires_at.date()) for lot in preview.lots] == [
        (70, (START + timedelta(days=30)).date())
    ]
    assert preview.verdict == "apply"


# --- Transfer --------------------------------------------------------------------------------


def test_it_transfers_the_soonest_expiring_points_with_their_dates(
    clock, expiring, account, other, reasons, manager
):
    grant(account, 40, reasons, manager)  # day 30
    clock.shift(timedelta(days=5))
    grant(account, 60, reasons, manager)  # day 35

    done = services.transfer_points(
        source=account, target=other, points=50, reason="Gift to partner", actor=as_(manager)
    )

    account.refresh_from_db()
    other.refresh_from_db()
    assert (account.balance, account.lifetime_points) == (50, 100)
    assert (other.balance, other.lifetime_points) == (50, 0)
    assert (done.out_event.type, done.in_event.type) == (Type.TRANSFER_OUT, Type.TRANSFER_IN)
    assert done.in_event.counterpart == done.out_event
    assert done.in_event.reason_text == "Gift to partner"
    assert open_lots(other) == [(40, START + timedelta(days=30)), (10, START + timedelta(days=35))]
    assert open_lots(account) == [(50, START + timedelta(days=35))]
    assert ledger_discrepancies() == []


def test_a_transfer_follows_the_overdraft_rules_of_a_debit(account, other, reasons, manager):
    grant(account, 10, reasons, manager)
    with pytest.raises(InsufficientPoints):
        services.transfer_points(
            source=account, target=other, points=11, reason="x", actor=as_(manager)
        )
    done = services.transfer_points(
        source=account,
        target=other,
        points=11,
        reason="x",
        actor=as_(manager),
        allow_negative=True,
    )
    account.refresh_from_db()
    assert account.balance == -1 and done.in_event.points == 11
    assert ledger_discrepancies() == []


@pytest.mark.parametrize(
    ("points", "reason", "refusal"),
    [(0, "x", InvalidAmount), (-5, "x", InvalidAmount), (5, " ", ReasonRequired)],
)
def test_it_refuses_a_bad_transfer(account, other, reasons, manager, points, reason, refusal):
    grant(account, 10, reasons, manager)
    account.refresh_from_db()
    preview = services.preview_transfer(
        source=account, target=other, points=points, reason=reason, actor=as_(manager)
    )
    with pytest.raises(refusal):
        services.transfer_points(
            source=account, target=other, points=points, reason=reason, actor=as_(manager)
        )
    assert isinstance(preview.problems[0], refusal)
    assert other.events.count() == 0


def test_an_agents_transfer_above_the_threshold_waits_for_a_manager(
    program, account, other, reasons, manager, agent
):
    program.approval_threshold = 20
    program.save()
    grant(account, 100, reasons, manager)

    held = services.transfer_points(
        source=account, target=other, points=30, reason="Partner", actor=as_(agent)
    )

    assert held.held and held.approval.target == other
    event = services.approve_request(request=held.approval, actor=as_(manager))
    other.refresh_from_db()
    assert event.type == Type.TRANSFER_IN and other.balance == 30


def test_a_transfer_or_merge_cannot_be_reversed(account, other, reasons, manager):
    grant(account, 10, reasons, manager)
    done = services.transfer_points(
        source=account, target=other, points=4, reason="x", actor=as_(manager)
    )
    for event in (done.out_event, done.in_event):
        with pytest.raises(NotReversible, match="transfer the points back"):
            services.reverse_event(event=event, note="undo", actor=as_(manager))
    merged = services.merge_accounts(source=account, target=other, actor=as_(manager))
    with pytest.raises(NotReversible, match="A merge cannot be reversed"):
        services.reverse_event(event=merged.in_event, note="undo", actor=as_(manager))


def test_a_replay_under_the_same_key_returns_the_first_transfer(account, other, reasons, manager):
    grant(account, 10, reasons, manager)
    first, again = (
        services.transfer_points(
            source=account,
            target=other,
            points=4,
            reason="x",
            actor=as_(manager),
            idempotency_key="k1",
        )
        for _ in range(2)
    )
    assert again.in_event == first.in_event and again.out_event == first.out_event
    assert other.events.count() == 1


# --- Each agent's daily limit ----------------------------------------------------------------


def test_a_grant_past_the_daily_limit_waits_and_the_preview_says_so(
    program, account, reasons, agent
):
    program.agent_daily_limit = 5000
    program.save()
    reward = reasons["REWARD"]
    for _ in range(2):
        services.adjust_points(account=account, points=2500, reason=reward, actor=as_(agent))

    preview = services.preview_adjustment(
        account=account, points=400, reason=reward, actor=as_(agent)
    )
    held = services.adjust_points(account=account, points=400, reason=reward, actor=as_(agent))

    assert preview.verdict == "hold"
    assert preview.limit_note == (
        "This takes you to 5,400 of your 5,000 points today; it will go to a manager."
    )
    assert held.held
    account.refresh_from_db()
    assert account.balance == 5000


def test_the_limit_counts_transfers_and_merges_but_not_removals_or_managers(
    program, account, other, reasons, agent, manager
):
    program.agent_daily_limit = 100
    program.save()
    grant(account, 500, reasons, manager)  # a manager's grant: not the agent's
    grant(account, 10, reasons, agent, code="REDEEM_DISCOUNT")
    services.transfer_points(source=account, target=other, points=30, reason="x", actor=as_(agent))
    third = AccountFactory(program=program)
    grant(third, 20, reasons, manager)
    services.merge_accounts(source=third, target=other, actor=as_(agent))

    assert granted_today(operator=agent, program=program) == 50
    uses = {use.operator: use for use in agents_use(program=program)}
    assert uses[agent].granted == 50 and uses[agent].limit == 100 and not uses[agent].over


def test_the_limit_window_rolls(clock, program, account, reasons, agent):
    program.agent_daily_limit = 100
    program.save()
    grant(account, 100, reasons, agent)
    assert grant(account, 1, reasons, agent).held
    clock.shift(timedelta(hours=24, seconds=1))
    assert not grant(account, 1, reasons, agent).held


def test_managers_and_api_clients_have_no_daily_limit(program, account, reasons, manager):
    program.agent_daily_limit = 1
    program.save()
    assert not grant(account, 50, reasons, manager).held
    other_agent = operator("agent")
    assert grant(account, 1, reasons, other_agent).held is False
    assert LoyaltyAccount.objects.get(pk=account.pk).balance == 51


def test_the_daily_limit_adds_no_statement_to_an_api_keys_adjustment(program, reasons):
    client, _ = api_client()
    actor = services.Actor.of_client(client, source=LoyaltyEvent.Source.NATIVE_API)

    def statements() -> int:
        account = AccountFactory(program=program)
        with CaptureQueriesContext(connection) as queries:
            services.adjust_points(account=account, points=5, reason=reasons["REWARD"], actor=actor)
        return len(queries)

    without = statements()
    program.agent_daily_limit = 10
    program.save()
    assert statements() == without
