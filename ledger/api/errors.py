"""The JSON error formats of the API, and one DRF exception handler per dialect.

Every refusal reaches the client through exactly one of these handlers (each API view base
class picks its dialect's), so a view never builds an error body itself:

* native and Yotpo: ``{"errors": [{"code", "message", "field"?}]}``
* Square: ``{"errors": [{"category", "code", "detail", "field"?}]}``; the HTTP status is the
  first error's.

Each handler first reduces the exception to a list of `Problem`s (status, neutral code,
message, field), then renders them in its dialect.
"""

import logging
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.settings import api_settings

from ledger.exceptions import (
    AccountClosed,
    AccountLocked,
    AlreadyReversed,
    ApprovalNotPending,
    DuplicateAccount,
    DuplicateOrder,
    IdempotencyConflict,
    InactiveReason,
    InsufficientPoints,
    InvalidAmount,
    InvalidIdempotencyKey,
    InvalidIdentity,
    InvalidNotificationUrl,
    InvalidRewardTier,
    NotAllowed,
    NoteRequired,
    NotFound,
    NotReversible,
    OverrideNotAllowed,
    ProgramMismatch,
    ReasonRequired,
    ReasonSignMismatch,
    Refusal,
    RewardNotIssued,
    RewardTierRetired,
    SameAccount,
    SelfApproval,
    TextTooLong,
    UnknownEventType,
    UnknownLocation,
    UnknownReason,
    WrongCurrency,
)
from loyalty_admin import metrics
from loyalty_admin.pagination import InvalidCursor

logger = logging.getLogger(__name__)
# Seconds a client should wait before retrying when the database is unreachable.
RETRY_AFTER_UNAVAILABLE = 1


@dataclass(frozen=True)
class Answer:
    """How the dialects answer one kind of refusal."""

    status: int  # native (and Yotpo and Square unless they say otherwise)
    square_code: str
    square_status: int | None = None
    yotpo_status: int | None = None


# The one table of refusals → answers (docs/api.md shows it). A refusal not named here is
# answered as its nearest named base class; any other well-formed request the ledger refuses
# is a 400 BAD_REQUEST.
ANSWERS: dict[type[Refusal], Answer] = {
    NotFound: Answer(404, "NOT_FOUND"),
    InvalidAmount: Answer(400, "INVALID_VALUE"),
    UnknownReason: Answer(400, "INVALID_VALUE"),
    UnknownLocation: Answer(400, "INVALID_VALUE"),
    WrongCurrency: Answer(400, "INVALID_VALUE"),
    NotReversible: Answer(400, "INVALID_VALUE"),
    TextTooLong: Answer(400, "VALUE_TOO_LONG"),
    InvalidIdempotencyKey: Answer(400, "VALUE_TOO_LONG"),
    InvalidIdentity: Answer(400, "INVALID_PHONE_NUMBER"),
    InsufficientPoints: Answer(400, "BAD_REQUEST", yotpo_status=422),
    OverrideNotAllowed: Answer(403, "FORBIDDEN"),
    NotAllowed: Answer(403, "FORBIDDEN"),
    SelfApproval: Answer(403, "FORBIDDEN"),
    # The IETF Idempotency-Key draft: a key reused with another payload is a 422; Square
    # says 400 (its SDK retries 409s).
    IdempotencyConflict: Answer(422, "IDEMPOTENCY_KEY_REUSED", square_status=400),
    AlreadyReversed: Answer(409, "CONFLICT"),
    ApprovalNotPending: Answer(409, "CONFLICT"),
    DuplicateAccount: Answer(409, "CONFLICT"),
    DuplicateOrder: Answer(409, "CONFLICT"),
    # Webhooks
    InvalidNotificationUrl: Answer(400, "INVALID_VALUE"),
    UnknownEventType: Answer(400, "INVALID_VALUE"),
    # Account operations: merges and transfers (a merged account refuses every dialect).
    AccountClosed: Answer(409, "CONFLICT", yotpo_status=422),
    SameAccount: Answer(400, "INVALID_VALUE"),
    ProgramMismatch: Answer(400, "INVALID_VALUE"),
    ReasonRequired: Answer(400, "INVALID_VALUE"),
    # Yotpo documents 200, 422 and 423 for an adjustment: 422 when a rule of the ledger
    # refuses it (malformed input stays a 400), 423 when the account stays locked.
    InactiveReason: Answer(400, "BAD_REQUEST", yotpo_status=422),
    ReasonSignMismatch: Answer(400, "BAD_REQUEST", yotpo_status=422),
    NoteRequired: Answer(400, "BAD_REQUEST", yotpo_status=422),
    AccountLocked: Answer(409, "CONFLICT", yotpo_status=423),
    # Rewards. A reward already redeemed or deleted is a conflict natively; Square answers
    # 400, since its SDK would retry a 409 that can never succeed.
    RewardTierRetired: Answer(400, "INVALID_VALUE"),
    InvalidRewardTier: Answer(400, "INVALID_VALUE"),
    RewardNotIssued: Answer(409, "BAD_REQUEST", square_status=400),
    Refusal: Answer(400, "BAD_REQUEST"),
}


def answer_for(refusal: Refusal) -> Answer:
    for kind in type(refusal).__mro__:
        if kind in ANSWERS:
            return ANSWERS[kind]
    raise TypeError(f"{type(refusal).__name__} is not a refusal")


@dataclass(frozen=True)
class Problem:
    status: int
    code: str  # DRF's error code (e.g. "required") or a LedgerError's code
    message: str
    field: str | None = None
    refusal: Refusal | None = None


def _join(prefix: str, key: object) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else str(key)


def _flatten(detail: object, prefix: str = "") -> list[tuple[str | None, exceptions.ErrorDetail]]:
    """(field path, error) pairs from a serializer's nested error dict ("a.b[0].c")."""
    if isinstance(detail, dict):
        pairs = []
        for key, value in detail.items():
            path = prefix if key == api_settings.NON_FIELD_ERRORS_KEY else _join(prefix, key)
            pairs += _flatten(value, path)
        return pairs
    if isinstance(detail, list):
        pairs = []
        for index, item in enumerate(detail):
            nested = isinstance(item, (dict, list))
            pairs += _flatten(item, _join(prefix, index) if nested else prefix)
        return pairs
    return [(prefix or None, detail)]


def problems_from(exc: Exception, view: object) -> list[Problem] | None:
    """The problems `exc` stands for, or None for an exception that is not a refusal."""
    if isinstance(exc, Refusal):
        # Fields are named as in the services; a view says what its input calls them.
        metrics.count_refusal(face=getattr(view, "source", ""), code=exc.code)
        names = getattr(view, "ledger_fields", {})
        field = names.get(exc.field, exc.field) if exc.field else None
        return [Problem(answer_for(exc).status, exc.code, exc.message, field, exc)]
    if isinstance(exc, InvalidCursor):
        return [Problem(400, "invalid_cursor", str(exc), getattr(view, "cursor_field", "cursor"))]
    if isinstance(exc, Http404):
        return [Problem(404, "not_found", str(exc) or "Not found.")]
    if isinstance(exc, DjangoPermissionDenied):
        return [Problem(403, "permission_denied", str(exc) or "Permission denied.")]
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database went away (restart, failover, a cut connection): the transaction was
        # rolled back, so nothing was written and a retry (same idempotency key) is safe.
        logger.warning("API request failed, database unavailable: %s", exc)
        return [Problem(503, "service_unavailable", "The database is unavailable; retry shortly.")]
    if isinstance(exc, exceptions.ValidationError):
        pairs = _flatten(exc.detail) or [(None, exceptions.ErrorDetail("Invalid input."))]
        return [Problem(400, str(e.code), str(e), field) for field, e in pairs]
    if isinstance(exc, exceptions.APIException):
        detail = exc.detail
        if isinstance(detail, (dict, list)):
            return [Problem(exc.status_code, str(e.code), str(e), f) for f, e in _flatten(detail)]
        return [Problem(exc.status_code, str(detail.code), str(detail))]
    return None


def _headers(exc: Exception) -> dict[str, str]:
    headers = {}
    if isinstance(exc, (OperationalError, InterfaceError)):
        headers["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE)
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, int(-(-exc.wait // 1))))
    return headers


# --- Native (and Yotpo) ---------------------------------------------------------------------


def _native_code(problem: Problem) -> str:
    if problem.refusal is not None:
        return problem.code
    return {"not_authenticated": "UNAUTHORIZED", "authentication_failed": "UNAUTHORIZED"}.get(
        problem.code, problem.code.upper()
    )


def _native_response(exc: Exception, context: dict, *, yotpo: bool) -> Response | None:
    problems = problems_from(exc, context.get("view"))
    if problems is None:
        return None
    errors = []
    for problem in problems:
        error = {"code": _native_code(problem), "message": problem.message}
        if problem.field:
            error["field"] = problem.field
        errors.append(error)
    status_code = problems[0].status
    if yotpo and isinstance(exc, Refusal):
        status_code = answer_for(exc).yotpo_status or status_code
    return Response({"errors": errors}, status=status_code, headers=_headers(exc))


def native_exception_handler(exc: Exception, context: dict) -> Response | None:
    return _native_response(exc, context, yotpo=False)


def yotpo_exception_handler(exc: Exception, context: dict) -> Response | None:
    return _native_response(exc, context, yotpo=True)


# --- Square ---------------------------------------------------------------------------------

_SQUARE_VALIDATION_CODES = {
    "required": "MISSING_REQUIRED_PARAMETER",
    "null": "MISSING_REQUIRED_PARAMETER",
    "blank": "VALUE_EMPTY",
    "max_length": "VALUE_TOO_LONG",
    "min_length": "VALUE_TOO_SHORT",
    "max_value": "VALUE_TOO_HIGH",
    "min_value": "VALUE_TOO_LOW",
    "max_items": "ARRAY_LENGTH_TOO_LONG",
    "not_a_list": "EXPECTED_ARRAY",
    "not_a_dict": "EXPECTED_OBJECT",
    "expected_integer": "EXPECTED_INTEGER",
    "expected_boolean": "EXPECTED_BOOLEAN",
    "expected_string": "EXPECTED_STRING",
    "invalid_choice": "INVALID_ENUM_VALUE",
    "invalid_cursor": "INVALID_CURSOR",
    "invalid_phone_number": "INVALID_PHONE_NUMBER",
    "parse_error": "BAD_REQUEST",
    "not_found": "NOT_FOUND",
    "method_not_allowed": "METHOD_NOT_ALLOWED",
    "not_acceptable": "NOT_ACCEPTABLE",
    "unsupported_media_type": "UNSUPPORTED_MEDIA_TYPE",
    "not_authenticated": "UNAUTHORIZED",
    "authentication_failed": "UNAUTHORIZED",
    "permission_denied": "FORBIDDEN",
    "throttled": "RATE_LIMITED",
    "service_unavailable": "SERVICE_UNAVAILABLE",
}


def _square_status(problem: Problem) -> int:
    if problem.refusal is not None:
        return answer_for(problem.refusal).square_status or problem.status
    return problem.status


def _square_error(problem: Problem) -> dict[str, str]:
    if problem.refusal is not None:
        code = answer_for(problem.refusal).square_code
    else:
        code = _SQUARE_VALIDATION_CODES.get(problem.code, "INVALID_VALUE")
    status_code = _square_status(problem)
    category = {
        401: "AUTHENTICATION_ERROR",
        403: "AUTHENTICATION_ERROR",
        429: "RATE_LIMIT_ERROR",
    }.get(status_code, "API_ERROR" if status_code >= 500 else "INVALID_REQUEST_ERROR")
    error = {"category": category, "code": code, "detail": problem.message}
    if problem.field:
        error["field"] = problem.field
    return error


def square_exception_handler(exc: Exception, context: dict) -> Response | None:
    problems = problems_from(exc, context.get("view"))
    if problems is None:
        return None
    errors = [_square_error(p) for p in problems]
    return Response({"errors": errors}, status=_square_status(problems[0]), headers=_headers(exc))
