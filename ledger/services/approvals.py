"""Four eyes: an agent's adjustment above the program's threshold waits for a manager.

`adjust_points` holds it here as an `ApprovalRequest`; it becomes an event only when another
operator, a manager, approves it. The event's actor is the requester (who asked for the
change), through the face they asked on; the request keeps who approved it.
"""

from django.db import transaction
from django.utils import dateformat, timezone

from accounts.models import LoyaltyAccount

from ..exceptions import ApprovalNotPending, NoteRequired, SelfApproval
from ..models import ApprovalRequest, LoyaltyEvent, Reason
from .actors import Actor
from .idempotency import idempotent
from .operations import apply_approved
from .posting import append, lock, lock_both
from .rules import check_adjustment, text_problems


def _unit(account: LoyaltyAccount, points: int) -> str:
    return account.program.points_label(points).lower()


def hold_for_approval(
    *,
    account: LoyaltyAccount,
    points: int,
    reason: Reason | None,
    history_title: str,
    note: str,
    visible_to_customer: bool,
    actor: Actor,
) -> ApprovalRequest:
    """Store an adjustment that `rules.check_adjustment` said to hold (an agent's, so an
    operator's, with a reason: only the console's and the native API's sessions get here)."""
    approval = ApprovalRequest.objects.create(
        program_id=account.program_id,
        account=account,
        points=points,
        reason=reason,
        history_title=history_title or reason.label,
        note=note,
        visible_to_customer=visible_to_customer,
        requested_by=actor.operator,
        source=actor.source,
        created_at=timezone.now(),
    )
    actor.audit(
        action="approval.requested",
        target=approval,
        summary=(
            f"Asked to adjust {account.display_name} by {points:+,} "
            f"{_unit(account, points)} for “{reason.label}”"
        ),
        details={"account": str(account.pk), "points": points, "reason": reason.code},
    )
    return approval


def _decidable(request: ApprovalRequest, actor: Actor) -> ApprovalRequest:
    """The request, locked, after the checks every decision shares."""
    actor.require_manager("approve or reject a request")
    request = (
        ApprovalRequest.objects.select_for_update(of=("self",))
        .select_related("decided_by")
        .get(pk=request.pk)
    )
    if request.requested_by_id == actor.operator.pk:
        raise SelfApproval()
    if request.status != ApprovalRequest.Status.PENDING:
        # Who and when: a manager whose second tab still offered the buttons learns that it
        # was decided, rather than being told it just happened.
        when = dateformat.format(timezone.localtime(request.decided_at), r"j M Y \a\t H:i")
        raise ApprovalNotPending(
            f"This request was already {request.get_status_display().lower()} "
            f"by {request.decided_by.email} on {when}."
        )
    return request


@idempotent("approve")
def approve_request(
    *, request: ApprovalRequest, actor: Actor, idempotency_key: str | None = None
) -> LoyaltyEvent:
    """Make the requested adjustment now, checked against the balance as it is now.

    Approving twice is refused (`ApprovalNotPending`), except that a retry by the same manager
    under the same idempotency key gets the event of the first approval (for a transfer or a
    merge, its receiving event).
    """
    if request.kind != ApprovalRequest.Kind.ADJUST:
        source, target = lock_both(request.account, request.target)
        request = _decidable(request, actor)
        event = apply_approved(request=request, source=source, target=target, actor=actor)
        return _approved(request, event, actor)
    account = lock(request.account)
    request = _decidable(request, actor)
    reason = request.reason
    requester = Actor(source=request.source, operator=request.requested_by)
    preview = check_adjustment(
        account=account,
        points=request.points,
        reason=reason,
        affects_lifetime=reason.affects_lifetime,
        actor=actor,  # a manager: the approval is this very decision
        note=request.note,
        history_title=request.history_title,
    )
    if preview.problems:
        raise preview.problems[0]
    event = append(
        account,
        points=request.points,
        affects_lifetime=reason.affects_lifetime,
        actor=requester,
        type=LoyaltyEvent.Type.ADJUST_POINTS,
        reason=reason,
        reason_text=reason.label,
        history_title=request.history_title or reason.label,
        note=request.note,
        visible_to_customer=request.visible_to_customer,
    )
    request.account = account
    return _approved(request, event, actor)


def _approved(request: ApprovalRequest, event: LoyaltyEvent, actor: Actor) -> LoyaltyEvent:
    request.status = ApprovalRequest.Status.APPROVED
    request.decided_by = actor.operator
    request.decided_at = event.created_at
    request.event = event
    request.save(update_fields=["status", "decided_by", "decided_at", "event"])
    actor.audit(
        action="approval.approved",
        target=request,
        summary=(
            f"Approved {request.points:+,} {_unit(request.account, request.points)} on "
            f"{request.account.display_name} asked by {request.requested_by.email}"
        ),
        details={
            "event": str(event.pk),
            "points": request.points,
            "account": str(request.account_id),
        },
    )
    return event


@transaction.atomic
def reject_request(*, request: ApprovalRequest, actor: Actor, note: str) -> ApprovalRequest:
    """Refuse the requested adjustment, saying why; nothing changes on the account."""
    request = _decidable(request, actor)
    if not note.strip():
        raise NoteRequired("Say why the request is rejected.")
    too_long = text_problems(note=note)
    if too_long:
        raise too_long[0]
    request.status = ApprovalRequest.Status.REJECTED
    request.decided_by = actor.operator
    request.decided_at = timezone.now()
    request.decision_note = note.strip()
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    actor.audit(
        action="approval.rejected",
        target=request,
        summary=(
            f"Rejected {request.points:+,} on {request.account.display_name} asked by "
            f"{request.requested_by.email}: {request.decision_note}"
        ),
        details={"points": request.points, "account": str(request.account_id)},
    )
    return request
