import re

import pytest
from django.utils import timezone

from ledger import services
from ledger.exceptions import (
    AlreadyReversed,
    ApprovalNotPending,
    DuplicateOrder,
    IdempotencyConflict,
    InactiveReason,
    InsufficientPoints,
    InvalidAmount,
    NoteRequired,
    NotReversible,
    ReasonSignMismatch,
)
from ledger.models import LoyaltyEvent

from ..factories import AccountFactory

UI = LoyaltyEvent.Source.ADMIN_UI


def as_operator(user):
    return services.Actor.of_operator(user, source=UI)


def adjust(account, points, *, reason, actor, **kwargs):
    return services.adjust_points(
        account=account, points=points, reason=reason, actor=as_operator(actor), **kwargs
    )


def give(account, points, *, reason, actor, **kwargs):
    """The applied event (the adjustment must not be held)."""
    adjustment = adjust(account, points, reason=reason, actor=actor, **kwargs)
    assert not adjustment.held
    return adjustment.event


@pytest.mark.parametrize(
    ("code", "points", "balance", "lifetime"),
    [
        # Start: balance 100, lifetime 100.
        ("REWARD", 30, 130, 130),
        ("REFUND_DEDUCTED", 30, 130, 100),
        ("REDEEM_DISCOUNT", -30, 70, 100),
        ("REMOVE_EARNED", -30, 70, 70),
        ("EXPIRE_NOW", -30, 70, 100),
    ],
)
def test_each_standard_reason_moves_balance_and_lifetime(
    account, reasons, manager, code, points, balance, lifetime
):
    give(account, 100, reason=reasons["REWARD"], actor=manager)

    event = give(account, points, reason=reasons[code], actor=manager)

    account.refresh_from_db()
    assert (account.balance, account.lifetime_points) == (balance, lifetime)
    assert (event.balance_after, event.lifetime_after) == (balance, lifetime)
    assert event.reason == reasons[code]
    assert event.history_title == reasons[code].label
    assert event.actor == manager and event.source == UI


def test_overdraft_is_refused_and_writes_nothing(account, reasons, agent):
    give(account, 50, reason=reasons["REWARD"], actor=agent)

    with pytest.raises(InsufficientPoints, match="has 50 points; removing 80 would leave -30"):
        give(account, -80, reason=reasons["REDEEM_DISCOUNT"], actor=agent)

    account.refresh_from_db()
    assert account.balance == 50
    assert account.events.count() == 1


def test_overdraft_is_allowed_when_explicitly_overridden(account, reasons, manager):
    give(account, 50, reason=reasons["REWARD"], actor=manager)

    event = give(
        account, -80, reason=reasons["REDEEM_DISCOUNT"], actor=manager, allow_negative=True
    )

    account.refresh_from_db()
    assert account.balance == -30 == event.balance_after


def test_removing_more_earned_points_than_were_earned_is_refused(account, reasons, manager):
    give(account, 100, reason=reasons["REFUND_DEDUCTED"], actor=manager)  # balance only

    with pytest.raises(InsufficientPoints, match="earned 0 points"):
        give(account, -10, reason=reasons["REMOVE_EARNED"], actor=manager)


def test_sign_must_match_the_reason(account, reasons, manager):
    with pytest.raises(ReasonSignMismatch, match="“Reward customer” adds points"):
        give(account, -5, reason=reasons["REWARD"], actor=manager, allow_negative=True)


def test_inactive_reason_is_refused(account, reasons, manager):
    reason = reasons["REWARD"]
    reason.active = False
    reason.save()

    with pytest.raises(InactiveReason):
        give(account, 5, reason=reason, actor=manager)
    assert account.events.count() == 0


def test_reason_that_requires_a_note_refuses_a_blank_one(account, reasons, manager):
    reason = reasons["REWARD"]
    reason.requires_note = True
    reason.save()

    with pytest.raises(NoteRequired):
        give(account, 5, reason=reason, actor=manager, note="   ")
    event = give(account, 5, reason=reason, actor=manager, note="Goodwill for late parcel")
    assert event.note == "Goodwill for late parcel"


@pytest.mark.parametrize("points", [0, services.MAX_POINTS + 1, True, 1.5])
def test_amount_must_be_a_whole_non_zero_number_within_int32(account, reasons, manager, points):
    with pytest.raises(InvalidAmount):
        give(account, points, reason=reasons["REWARD"], actor=manager)


def test_agent_above_the_approval_threshold_is_held(program, account, reasons, agent, manager):
    program.approval_threshold = 500
    program.save()

    held = adjust(account, 501, reason=reasons["REWARD"], actor=agent)
    assert held.held and held.event is None
    assert held.approval.points == 501 and held.approval.requested_by == agent
    account.refresh_from_db()
    assert account.balance == 0 and account.events.count() == 0
    give(account, 500, reason=reasons["REWARD"], actor=agent)
    give(account, 501, reason=reasons["REWARD"], actor=manager)

    account.refresh_from_db()
    assert account.balance == 1001


def test_same_idempotency_key_and_request_applies_once(account, reasons, agent):
    first = give(account, 10, reason=reasons["REWARD"], actor=agent, idempotency_key="k-1")
    again = give(account, 10, reason=reasons["REWARD"], actor=agent, idempotency_key="k-1")

    account.refresh_from_db()
    assert again.pk == first.pk
    assert account.balance == 10
    assert account.events.count() == 1


def test_same_idempotency_key_with_another_request_is_refused(account, reasons, agent):
    give(account, 10, reason=reasons["REWARD"], actor=agent, idempotency_key="k-1")

    with pytest.raises(IdempotencyConflict):
        give(account, 11, reason=reasons["REWARD"], actor=agent, idempotency_key="k-1")
    other = AccountFactory(program=account.program)
    with pytest.raises(IdempotencyConflict):
        give(other, 10, reason=reasons["REWARD"], actor=agent, idempotency_key="k-1")

    account.refresh_from_db()
    assert account.balance == 10
    assert LoyaltyEvent.objects.count() == 1


def test_idempotency_keys_are_scoped_to_who_sends_them(account, reasons, agent, manager):
    give(account, 10, reason=reasons["REWARD"], actor=agent, idempotency_key="k-1")
    give(account, 10, reason=reasons["REWARD"], actor=manager, idempotency_key="k-1")

    account.refresh_from_db()
    assert account.balance == 20


def test_a_refused_request_can_be_retried_with_its_key(account, reasons, agent):
    with pytest.raises(InsufficientPoints):
        give(account, -10, reason=reasons["REDEEM_DISCOUNT"], actor=agent, idempotency_key="k")
    give(account, 10, reason=reasons["REWARD"], actor=agent)

    event = give(account, -10, reason=reasons["REDEEM_DISCOUNT"], actor=agent, idempotency_key="k")

    assert event.balance_after == 0


def test_reversal_undoes_an_event_once(account, reasons, agent, manager):
    event = give(account, 40, reason=reasons["REWARD"], actor=agent)

    reversal = services.reverse_event(
        event=event, note="Wrong customer", actor=as_operator(manager)
    )

    account.refresh_from_db()
    assert (account.balance, account.lifetime_points) == (0, 0)
    assert reversal.reverses == event and reversal.points == -40
    assert reversal.type == LoyaltyEvent.Type.REVERSAL
    assert reversal.note == "Wrong customer" and reversal.actor == manager
    with pytest.raises(AlreadyReversed):
        services.reverse_event(event=event, note="again", actor=as_operator(manager))
    with pytest.raises(NotReversible):
        services.reverse_event(event=reversal, note="undo the undo", actor=as_operator(manager))
    assert account.events.count() == 2


def test_reversal_needs_a_note(account, reasons, manager):
    event = give(account, 40, reason=reasons["REWARD"], actor=manager)

    with pytest.raises(NoteRequired):
        services.reverse_event(event=event, note=" ", actor=as_operator(manager))


def test_reversing_points_already_spent_would_overdraw(account, reasons, manager):
    event = give(account, 40, reason=reasons["REWARD"], actor=manager)
    give(account, -30, reason=reasons["REDEEM_DISCOUNT"], actor=manager)

    with pytest.raises(InsufficientPoints):
        services.reverse_event(event=event, note="fraud", actor=as_operator(manager))
    reversal = services.reverse_event(
        event=event, note="fraud", actor=as_operator(manager), allow_negative=True
    )
    assert reversal.balance_after == -30


def test_accumulate_counts_towards_points_earned_once_per_order(account, manager):
    event = services.accumulate_points(
        account=account, points=25, order_id="ORDER-1", actor=as_operator(manager)
    )

    assert (event.balance_after, event.lifetime_after) == (25, 25)
    with pytest.raises(DuplicateOrder):
        services.accumulate_points(
            account=account, points=25, order_id="ORDER-1", actor=as_operator(manager)
        )
    with pytest.raises(InvalidAmount):
        services.accumulate_points(account=account, points=-5, actor=as_operator(manager))


def test_event_times_strictly_increase_within_an_account(account, reasons, manager):
    events = [give(account, 1, reason=reasons["REWARD"], actor=manager) for _ in range(20)]

    times = [e.created_at for e in events]
    assert times == sorted(times) and len(set(times)) == 20
    account.refresh_from_db()
    assert account.updated_at == times[-1]


def test_a_decided_request_says_who_decided_it_and_when(program, account, reasons, agent, manager):
    program.approval_threshold = 500
    program.save()
    held = adjust(account, 600, reason=reasons["REWARD"], actor=agent).approval
    event = services.approve_request(
        request=held, actor=services.Actor.of_operator(manager), idempotency_key="tab-1"
    )
    when = timezone.localtime(event.created_at)

    expected = re.escape(
        f"already approved by {manager.email} on {when.day} {when:%b %Y at %H:%M}."
    )
    other_tab = services.Actor.of_operator(manager)
    with pytest.raises(ApprovalNotPending, match=expected):
        services.approve_request(request=held, actor=other_tab, idempotency_key="tab-2")
    with pytest.raises(ApprovalNotPending, match=expected):
        services.reject_request(request=held, actor=other_tab, note="Too much")
    # The same form retried gets the first answer.
    retry = services.approve_request(request=held, actor=other_tab, idempotency_key="tab-1")
    assert retry.pk == event.pk
