"""The program's adjustment reasons.

A reason's code and sign are fixed once it exists: past events point at it, and changing what
it means would rewrite their meaning. Labels and flags may change; retiring a reason is
deactivation, never deletion. Managing reasons is a manager's job.
"""

from django.db import IntegrityError, transaction

from accounts.models import Program

from .. import lookups
from ..exceptions import LedgerError
from ..models import Reason
from .actors import Actor


def _forget_on_commit(reason: Reason) -> None:
    # Now, for this transaction's own reads, and again once others can see the change.
    program_id = reason.program_id
    lookups.forget_reasons(program_id)
    transaction.on_commit(lambda: lookups.forget_reasons(program_id))


@transaction.atomic
def add_reason(
    *,
    program: Program,
    code: str,
    label: str,
    sign: int,
    affects_lifetime: bool,
    actor: Actor,
    requires_note: bool = False,
) -> Reason:
    """A new active reason, after the program's existing ones."""
    actor.require_manager("change the reasons")
    code = Reason.normalize_code(code)
    if not code or not code.isascii() or not code.replace("_", "").isalnum():
        raise LedgerError("Use capital letters, digits and _ only.", field="code")
    if len(code) > Reason._meta.get_field("code").max_length:
        raise LedgerError("A code has at most 40 characters.", field="code")
    if sign not in (Reason.Sign.ADD, Reason.Sign.REMOVE):
        raise LedgerError("A reason either adds or removes points.", field="sign")
    last = Reason.objects.filter(program=program).order_by("-position").first()
    try:
        with transaction.atomic():
            reason = Reason.objects.create(
                program=program,
                code=code,
                label=label.strip(),
                sign=sign,
                affects_lifetime=affects_lifetime,
                requires_note=requires_note,
                position=(last.position + 1) if last else 0,
            )
    except IntegrityError as exc:
        raise LedgerError(
            f"The program already has a reason with the code {code}.", field="code"
        ) from exc
    actor.audit(
        action="reason.added",
        target=reason,
        summary=f"Added reason {reason.code} “{reason.label}”",
        details={"code": code, "sign": sign, "affects_lifetime": affects_lifetime},
    )
    _forget_on_commit(reason)
    return reason


@transaction.atomic
def change_reason(
    *, reason: Reason, label: str, affects_lifetime: bool, requires_note: bool, actor: Actor
) -> Reason:
    """Rename a reason or change whether it counts towards points earned or needs a note."""
    actor.require_manager("change the reasons")
    before = {
        "label": reason.label,
        "affects_lifetime": reason.affects_lifetime,
        "requires_note": reason.requires_note,
    }
    reason.label = label.strip()
    reason.affects_lifetime = affects_lifetime
    reason.requires_note = requires_note
    reason.save(update_fields=["label", "affects_lifetime", "requires_note"])
    after = {
        "label": reason.label,
        "affects_lifetime": affects_lifetime,
        "requires_note": requires_note,
    }
    actor.audit(
        action="reason.changed",
        target=reason,
        summary=f"Changed reason {reason.code} “{reason.label}”",
        details={"before": before, "after": after},
    )
    _forget_on_commit(reason)
    return reason


@transaction.atomic
def set_reason_active(*, reason: Reason, active: bool, actor: Actor) -> Reason:
    """Offer a reason to operators again, or stop offering it (its events stay as they are)."""
    actor.require_manager("change the reasons")
    reason.active = active
    reason.save(update_fields=["active"])
    actor.audit(
        action="reason.activated" if active else "reason.deactivated",
        target=reason,
        summary=f"{'Reactivated' if active else 'Deactivated'} reason {reason.code}",
    )
    _forget_on_commit(reason)
    return reason
