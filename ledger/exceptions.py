"""Why the ledger refuses an action.

Every refusal is a `LedgerError` (a `loyalty_admin.refusals.Refusal`) with a stable `code`, a
message an operator can read, and the input `field` it is about (when there is one). The
service layer raises them; each face maps them to its own format in one place: the console
next to the field, each API dialect in its error body (`ledger.api.errors`).
"""

from accounts.exceptions import DuplicateAccount, InvalidIdentity
from loyalty_admin.refusals import Refusal

__all__ = ["DuplicateAccount", "InvalidIdentity", "Refusal"]  # re-exported for the faces


class LedgerError(Refusal):
    code = "LEDGER_ERROR"
    default_message = "The ledger refused this action."


# --- Look-ups --------------------------------------------------------------------------------


class NotFound(LedgerError):
    code = "NOT_FOUND"
    default_message = "Not found."


class ProgramNotFound(NotFound):
    default_message = "No loyalty program has this id or alias."


class AccountNotFound(NotFound):
    default_message = "No loyalty account matches."


class EventNotFound(NotFound):
    default_message = "No event has this id."


class ApprovalRequestNotFound(NotFound):
    default_message = "No approval request has this id."


class BatchNotFound(NotFound):
    default_message = "No bulk batch has this id."


# --- Adjustments -----------------------------------------------------------------------------


class AdjustmentRefused(LedgerError):
    """A problem that `preview_adjustment` reports and the commands raise."""


class InvalidAmount(AdjustmentRefused):
    code = "INVALID_AMOUNT"
    field = "points"


class InsufficientPoints(AdjustmentRefused):
    code = "INSUFFICIENT_POINTS"
    field = "points"


class UnknownReason(AdjustmentRefused):
    code = "REASON_UNKNOWN"
    field = "reason"
    default_message = "No reason has this code."


class InactiveReason(AdjustmentRefused):
    code = "REASON_INACTIVE"
    field = "reason"


class ReasonSignMismatch(AdjustmentRefused):
    code = "REASON_SIGN_MISMATCH"
    field = "points"


class NoteRequired(AdjustmentRefused):
    code = "NOTE_REQUIRED"
    field = "note"


class TextTooLong(AdjustmentRefused):
    code = "VALUE_TOO_LONG"


class OverrideNotAllowed(AdjustmentRefused):
    code = "OVERRIDE_NOT_ALLOWED"
    field = "allow_negative"
    default_message = "Only a manager may allow a negative balance."


class AccountLocked(LedgerError):
    """Another change held the account's row lock for longer than the server waits."""

    code = "ACCOUNT_LOCKED"
    default_message = (
        "Another change to this customer's points is still in progress; try again in a moment."
    )


class NotAllowed(LedgerError):
    """The actor's role does not allow this action."""

    code = "NOT_ALLOWED"
    default_message = "Your role does not allow this action."


class IdempotencyConflict(LedgerError):
    code = "IDEMPOTENCY_KEY_REUSED"
    field = "idempotency_key"
    default_message = "This idempotency key was already used for a different request."


class InvalidIdempotencyKey(LedgerError):
    code = "INVALID_IDEMPOTENCY_KEY"
    field = "idempotency_key"
    default_message = "Use an idempotency key of 1 to 191 characters."


class AlreadyReversed(LedgerError):
    code = "ALREADY_REVERSED"
    default_message = "This event has already been reversed."


class NotReversible(LedgerError):
    code = "NOT_REVERSIBLE"
    default_message = "This event cannot be reversed."


class UnknownLocation(LedgerError):
    code = "LOCATION_UNKNOWN"
    field = "location_id"
    default_message = "The program does not run at this location."


class WrongCurrency(LedgerError):
    code = "WRONG_CURRENCY"
    field = "currency"


class DuplicateOrder(LedgerError):
    code = "DUPLICATE_ORDER"
    field = "order_id"
    default_message = "Points were already accumulated for this order."


# --- Bulk files ------------------------------------------------------------------------------


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


# --- Approvals -------------------------------------------------------------------------------


class ApprovalNotPending(LedgerError):
    code = "APPROVAL_NOT_PENDING"
    default_message = "This request has already been decided."


class SelfApproval(LedgerError):
    code = "SELF_APPROVAL"
    default_message = "Another manager must decide on your own request."


# --- Webhooks --------------------------------------------------------------------------------


class SubscriptionNotFound(NotFound):
    default_message = "No webhook subscription has this id."


class NotificationNotFound(NotFound):
    default_message = "No webhook notification has this id."


class InvalidNotificationUrl(LedgerError):
    code = "INVALID_NOTIFICATION_URL"
    field = "notification_url"
    default_message = "The notification URL must be an http:// or https:// URL with a host."


class RefusedNotificationUrl(InvalidNotificationUrl):
    """The URL's host is on the refused list (WEBHOOK_REFUSED_NETWORKS): private addresses are
    refused outside DEBUG so that no one can make the server call its own internals."""

    code = "NOTIFICATION_URL_REFUSED"
    default_message = "This server does not send notifications to that host."


class UnknownEventType(LedgerError):
    code = "EVENT_TYPE_UNKNOWN"
    field = "event_types"


# --- Account operations: merges and transfers ------------------------------------------------


class AccountClosed(AdjustmentRefused):
    """The account was merged into another: it keeps its history and takes no new events."""

    code = "ACCOUNT_CLOSED"
    default_message = "This account is closed."


class SameAccount(LedgerError):
    code = "SAME_ACCOUNT"
    field = "target"
    default_message = "Choose another account: an account cannot be merged or moved into itself."


class ProgramMismatch(LedgerError):
    code = "PROGRAM_MISMATCH"
    field = "target"
    default_message = "Both accounts must belong to the same loyalty program."


class ReasonRequired(AdjustmentRefused):
    code = "REASON_REQUIRED"
    field = "reason"
    default_message = "Say why the points are moved."


# --- Rewards ---------------------------------------------------------------------------------


class RewardTierNotFound(NotFound):
    default_message = "No reward tier of this program has this id."


class RewardNotFound(NotFound):
    default_message = "No reward has this id."


class RewardTierRetired(LedgerError):
    code = "REWARD_TIER_RETIRED"
    field = "reward_tier_id"
    default_message = "This reward tier is retired; no new rewards are issued from it."


class RewardNotIssued(LedgerError):
    """Only an issued reward can be redeemed or deleted: redeeming is final, deleting too."""

    code = "REWARD_NOT_ISSUED"
    default_message = "This reward is no longer issued."


class InvalidRewardTier(LedgerError):
    code = "INVALID_REWARD_TIER"
    field = "name"
    default_message = "Give the reward tier a name and a positive number of points."
