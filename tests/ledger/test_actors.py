"""Who may do what is decided by the service layer, whatever face asks (ledger.services.actors)."""

import pytest

from accounts.exceptions import InvalidProgramSetting
from accounts.services import update_program
from ledger.exceptions import LedgerError, NotAllowed, OverrideNotAllowed, TextTooLong
from ledger.models import ApprovalRequest, BulkBatch, LoyaltyEvent
from ledger.services import (
    Actor,
    add_reason,
    adjust_points,
    approve_request,
    preview_adjustment,
    reject_request,
    reverse_event,
    upload_bulk_file,
)
from tests.factories import api_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(funded, reasons, agent, program):
    program.approval_threshold = 100
    program.save(update_fields=["approval_threshold"])
    return adjust_points(
        account=funded, points=200, reason=reasons["REWARD"], actor=Actor.of_operator(agent)
    ).approval


def test_it_holds_an_agent_but_not_a_manager_or_a_key(funded, reasons, agent, manager, program):
    program.approval_threshold = 100
    program.save(update_fields=["approval_threshold"])
    client, _ = api_client()
    actors = {
        "agent": Actor.of_operator(agent),
        "manager": Actor.of_operator(manager),
        "key": Actor.of_client(client, source=LoyaltyEvent.Source.NATIVE_API),
    }
    verdicts = {
        name: preview_adjustment(
            account=funded, points=200, reason=reasons["REWARD"], actor=actor
        ).verdict
        for name, actor in actors.items()
    }

    assert verdicts == {"agent": "hold", "manager": "apply", "key": "apply"}


def test_an_agent_may_not_override_reverse_or_manage(funded, reasons, agent, program):
    actor = Actor.of_operator(agent)
    event = LoyaltyEvent.objects.get(account=funded)

    with pytest.raises(OverrideNotAllowed):
        adjust_points(
            account=funded,
            points=-2_000,
            reason=reasons["REDEEM_DISCOUNT"],
            allow_negative=True,
            actor=actor,
        )
    with pytest.raises(NotAllowed):
        reverse_event(event=event, note="mistake", actor=actor)
    with pytest.raises(NotAllowed):
        add_reason(
            program=program, code="X", label="X", sign=1, affects_lifetime=False, actor=actor
        )
    with pytest.raises(NotAllowed):
        upload_bulk_file(program=program, actor=actor, filename="f.csv", data=b"email,points\n")
    funded.refresh_from_db()
    assert funded.balance == 1_000
    assert LoyaltyEvent.objects.filter(account=funded).count() == 1
    assert not BulkBatch.objects.exists()


def test_only_a_manager_decides_and_a_rejection_note_has_the_note_limit(held, agent, manager):
    with pytest.raises(NotAllowed):
        approve_request(request=held, actor=Actor.of_operator(agent))
    with pytest.raises(TextTooLong) as refused:
        reject_request(request=held, actor=Actor.of_operator(manager), note="n" * 2_001)

    assert refused.value.field == "note"
    held.refresh_from_db()
    assert held.status == ApprovalRequest.Status.PENDING


def test_a_reason_code_is_stored_in_capitals_and_checked(program, manager):
    actor = Actor.of_operator(manager)
    reason = add_reason(
        program=program,
        code=" goodwill_2 ",
        label="Goodwill",
        sign=1,
        affects_lifetime=False,
        actor=actor,
    )

    assert reason.code == "GOODWILL_2"
    with pytest.raises(LedgerError, match="capital letters"):
        add_reason(
            program=program, code="no-dash", label="X", sign=1, affects_lifetime=False, actor=actor
        )


def test_the_expiration_policy_is_the_services_rule(program):
    with pytest.raises(InvalidProgramSetting) as refused:
        update_program(program=program, expiration_policy="twelve months")

    assert refused.value.field == "expiration_policy"
    assert update_program(program=program, expiration_policy=" p1y ").expiration_policy == "P1Y"
