"""Why the ledger refuses an action.

Every refusal is a `LedgerError` with a stable `code`, a message an operator can read, and the
input `field` it is about (when there is one). Each edge maps these to its own format in one
place: the console next to the field, each API dialect in its error body.
"""


class LedgerError(Exception):
    code = "LEDGER_ERROR"
    field: str | None = None
    default_message = "The ledger refused this action."

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or self.default_message
        if field is not None:
            self.field = field
        super().__init__(self.message)

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and other.message == self.message  # type: ignore[attr-defined]
            and other.field == self.field  # type: ignore[attr-defined]
        )

    def __hash__(self) -> int:
        return hash((type(self), self.message, self.field))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class AdjustmentRefused(LedgerError):
    """A problem that `preview_adjustment` reports and `adjust_points` raises."""


class InvalidAmount(AdjustmentRefused):
    code = "INVALID_AMOUNT"
    field = "points"


class InsufficientPoints(AdjustmentRefused):
    code = "INSUFFICIENT_POINTS"
    field = "points"


class InactiveReason(AdjustmentRefused):
    code = "REASON_INACTIVE"
    field = "reason"


class ReasonSignMismatch(AdjustmentRefused):
    code = "REASON_SIGN_MISMATCH"
    field = "points"


class NoteRequired(AdjustmentRefused):
    code = "NOTE_REQUIRED"
    field = "note"


class ApprovalRequired(AdjustmentRefused):
    code = "APPROVAL_REQUIRED"
    field = "points"


class IdempotencyConflict(LedgerError):
    code = "IDEMPOTENCY_KEY_REUSED"
    field = "idempotency_key"
    default_message = "This idempotency key was already used for a different request."


class AlreadyReversed(LedgerError):
    code = "ALREADY_REVERSED"
    default_message = "This event has already been reversed."


class NotReversible(LedgerError):
    code = "NOT_REVERSIBLE"
    default_message = "This event cannot be reversed."


class DuplicateOrder(LedgerError):
    code = "DUPLICATE_ORDER"
    field = "order_id"
    default_message = "Points were already accumulated for this order."


class DuplicateAccount(LedgerError):
    code = "DUPLICATE_ACCOUNT"
    default_message = "A loyalty account with this identity already exists."


class InvalidIdentity(LedgerError):
    code = "INVALID_IDENTITY"
    default_message = "A loyalty account needs a phone number, an email or a customer id."


class BulkRejected(LedgerError):
    code = "BULK_REJECTED"
    field = "file"
    default_message = "The file has errors; nothing was applied."

    def __init__(self, errors: list, message: str | None = None) -> None:
        self.errors = errors
        super().__init__(message or f"The file has {len(errors):,} error(s); nothing was applied.")


class DuplicateBulkFile(LedgerError):
    code = "DUPLICATE_FILE"
    field = "file"
    default_message = "This exact file was already applied."


class BatchNotApplicable(LedgerError):
    code = "BATCH_NOT_APPLICABLE"
    default_message = "This batch cannot be applied in its current state."


class ApprovalNotPending(LedgerError):
    code = "APPROVAL_NOT_PENDING"
    default_message = "This request has already been decided."


class SelfApproval(LedgerError):
    code = "SELF_APPROVAL"
    default_message = "Another manager must decide on your own request."
