"""Invariant 1 of DESIGN.md under random sequences of ledger actions, transfers and merges
included."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import services
from ledger.exceptions import LedgerError
from ledger.models import LoyaltyEvent, PointLot
from ledger.selectors import ledger_discrepancies

from ..factories import AccountFactory

UI = LoyaltyEvent.Source.ADMIN_UI
REASON_CODES = ["REWARD", "REFUND_DEDUCTED", "REDEEM_DISCOUNT", "REMOVE_EARNED", "EXPIRE_NOW"]

actions = st.lists(
    st.one_of(
        st.tuples(
            st.just("adjust"),
            st.integers(0, 2),
            st.sampled_from(REASON_CODES),
            st.integers(1, 500),
            st.booleans(),
        ),
        st.tuples(st.just("accumulate"), st.integers(0, 2), st.integers(1, 500)),
        st.tuples(st.just("reverse"), st.integers(0, 40)),
        st.tuples(st.just("transfer"), st.integers(0, 2), st.integers(0, 2), st.integers(1, 500)),
        st.tuples(st.just("merge"), st.integers(0, 2), st.integers(0, 2)),
    ),
    min_size=1,
    max_size=30,
)


def lot_snapshot(account):
    return list(
        PointLot.objects.filter(account=account)
        .order_by("created_at", "event_id")
        .values_list("event_id", "points", "remaining", "expires_at")
    )


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=actions)
def test_balances_always_equal_the_sums_of_events(program, reasons, manager, steps):
    accounts = [AccountFactory(program=program) for _ in range(3)]
    made: list[LoyaltyEvent] = []
    for step in steps:
        try:
            if step[0] == "adjust":
                _, who, code, amount, override = step
                reason = reasons[code]
                made.append(
                    services.adjust_points(
                        account=accounts[who],
                        points=reason.sign * amount,
                        reason=reason,
                        allow_negative=override,
                        actor=services.Actor.of_operator(manager, source=UI),
                    ).event
                )
            elif step[0] == "accumulate":
                _, who, amount = step
                made.append(
                    services.accumulate_points(
                        account=accounts[who],
                        points=amount,
                        actor=services.Actor.of_operator(manager, source=UI),
                    )
                )
            elif step[0] == "transfer":
                _, source, target, amount = step
                done = services.transfer_points(
                    source=accounts[source],
                    target=accounts[target],
                    points=amount,
                    reason="test",
                    actor=services.Actor.of_operator(manager, source=UI),
                )
                made += [done.out_event, done.in_event]
            elif step[0] == "merge":
                _, source, target = step
                done = services.merge_accounts(
                    source=accounts[source],
                    target=accounts[target],
                    actor=services.Actor.of_operator(manager, source=UI),
                )
                made += [done.out_event, done.in_event]
            elif made:
                target = made[step[1] % len(made)]
                made.append(
                    services.reverse_event(
                        event=target,
                        note="test",
                        actor=services.Actor.of_operator(manager, source=UI),
                    )
                )
        except LedgerError:
            pass  # a refusal must leave everything as it was; the checks below prove it

    assert ledger_discrepancies() == []
    for account in accounts:
        kept = lot_snapshot(account)
        services.rebuild_lots(account=account)
        assert lot_snapshot(account) == kept
        account.refresh_from_db()
        newest = account.events.order_by("-created_at", "-id").first()
        if newest is not None:
            assert (newest.balance_after, newest.lifetime_after) == (
                account.balance,
                account.lifetime_points,
            )
        else:
            assert (account.balance, account.lifetime_points) == (0, 0)


def test_discrepancies_are_found_when_a_cached_balance_is_wrong(account, reasons, manager):
    services.adjust_points(
        account=account,
        points=10,
        reason=reasons["REWARD"],
        actor=services.Actor.of_operator(manager, source=UI),
    )
    type(account).objects.filter(pk=account.pk).update(balance=11)

    found = ledger_discrepancies()
    assert [d.account_id for d in found] == [str(account.pk)] * 2
    assert found[0].problem == "balance 11 / points earned 10, events sum to 10 / 10"
    assert found[1].problem == "balance 11 but 10 points in unexpired lots"
