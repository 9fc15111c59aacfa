"""`preview_adjustment` and `adjust_points` agree: whatever the preview allows is applied with
exactly the previewed after-values, and whatever it refuses, the adjust refuses the same way."""

import pytest

from ledger import services
from ledger.exceptions import AdjustmentRefused
from ledger.models import LoyaltyEvent

UI = LoyaltyEvent.Source.ADMIN_UI

CASES = [
    # code, points, allow_negative, by, note, expected problem codes, needs approval
    ("REWARD", 50, False, "agent", "", [], False),
    ("REWARD", 501, False, "agent", "", [], True),
    ("REWARD", 501, False, "manager", "", [], False),
    ("REDEEM_DISCOUNT", -100, False, "agent", "", [], False),
    ("REDEEM_DISCOUNT", -101, False, "agent", "", ["INSUFFICIENT_POINTS"], False),
    ("REDEEM_DISCOUNT", -101, True, "manager", "", [], False),
    ("REMOVE_EARNED", -100, False, "agent", "", [], False),
    ("REMOVE_EARNED", -101, False, "agent", "", ["INSUFFICIENT_POINTS"], False),
    ("EXPIRE_NOW", -1, False, "agent", "", [], False),
    ("REFUND_DEDUCTED", 7, False, "agent", "", [], False),
    ("REWARD", -5, False, "agent", "", ["REASON_SIGN_MISMATCH"], False),
    ("REDEEM_DISCOUNT", 5, False, "agent", "", ["REASON_SIGN_MISMATCH"], False),
    ("REWARD", 0, False, "agent", "", ["INVALID_AMOUNT"], False),
    ("INACTIVE", 5, False, "agent", "", ["REASON_INACTIVE"], False),
    ("NOTE", 5, False, "agent", "", ["NOTE_REQUIRED"], False),
    ("NOTE", 5, False, "agent", "why", [], False),
    ("INACTIVE", -500, False, "agent", "", ["REASON_INACTIVE", "INSUFFICIENT_POINTS"], False),
]


@pytest.mark.parametrize(("code", "points", "allow", "by", "note", "problems", "held"), CASES)
def test_preview_and_adjust_agree(
    program, account, reasons, agent, manager, code, points, allow, by, note, problems, held
):
    program.approval_threshold = 500
    program.save()
    reasons["INACTIVE"] = program.reasons.create(
        code="INACTIVE",
        label="Old promo",
        sign=-1 if points < 0 else 1,
        affects_lifetime=False,
        active=False,
    )
    reasons["NOTE"] = program.reasons.create(
        code="NOTE", label="Goodwill", sign=1, affects_lifetime=True, requires_note=True
    )
    services.adjust_points(
        account=account,
        points=100,
        reason=reasons["REWARD"],
        actor=services.Actor.of_operator(manager, source=UI),
    )
    account.refresh_from_db()
    actor = agent if by == "agent" else manager
    arguments = dict(
        account=account,
        points=points,
        reason=reasons[code],
        note=note,
        allow_negative=allow,
        actor=services.Actor.of_operator(actor, source=UI),
    )

    preview = services.preview_adjustment(**arguments)

    assert [p.code for p in preview.problems] == problems
    assert preview.needs_approval is held
    assert preview.allowed is (not problems)
    assert preview.verdict == ("refuse" if problems else "hold" if held else "apply")
    if problems:
        with pytest.raises(AdjustmentRefused) as refused:
            services.adjust_points(**arguments)
        assert refused.value.code == problems[0]
        account.refresh_from_db()
        assert (account.balance, account.lifetime_points) == (100, 100)
    elif held:
        adjustment = services.adjust_points(**arguments)
        assert adjustment.held and adjustment.event is None
        assert adjustment.approval.points == points
        account.refresh_from_db()
        assert (account.balance, account.lifetime_points) == (100, 100)
    else:
        event = services.adjust_points(**arguments).event
        assert (preview.balance_before, preview.lifetime_before) == (100, 100)
        assert (event.balance_after, event.lifetime_after) == (
            preview.balance_after,
            preview.lifetime_after,
        )
