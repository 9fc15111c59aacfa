"""Every action that changes a balance. Nothing else writes an event or a balance.

Each function is keyword-only and one transaction: it locks the account row, takes the time
once, checks the action with the same code the preview uses, appends the event and updates the
account's cached balance and points earned.
"""

import bisect
import copy
import enum
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import isodate
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet, Sum
from django.utils import timezone

from accounts.models import LoyaltyAccount, Program
from accounts.services import normalize_identity
from loyalty_admin import audit
from loyalty_admin.models import ApiClient
from loyalty_admin.roles import is_manager

from . import bulk
from .bulk import RowError
from .exceptions import (
    AdjustmentRefused,
    AlreadyReversed,
    ApprovalNotPending,
    ApprovalRequired,
    BatchNotApplicable,
    BulkRejected,
    DuplicateBulkFile,
    DuplicateOrder,
    IdempotencyConflict,
    InactiveReason,
    InsufficientPoints,
    InvalidAmount,
    LedgerError,
    NoteRequired,
    NotReversible,
    ReasonSignMismatch,
    SelfApproval,
)
from .idempotency import claim_key, fingerprint, remember
from .models import (
    ApprovalRequest,
    BulkBatch,
    LotConsumption,
    LoyaltyEvent,
    PointLot,
    Reason,
)

# One adjustment moves at most this many points (Yotpo's int32 limit).
MAX_POINTS = 2_147_483_647
# A batch keeps the first errors of its file for the report; the count is always exact.
MAX_STORED_ERRORS = 1_000

Source = LoyaltyEvent.Source


@dataclass(frozen=True)
class AdjustmentPreview:
    balance_before: int
    balance_after: int
    lifetime_before: int
    lifetime_after: int
    problems: tuple[AdjustmentRefused, ...]
    needs_approval: bool

    @property
    def allowed(self) -> bool:
        return not self.problems


# --- Checks shared by the preview and the actions ------------------------------------------


def _check_amount(points: int) -> list[AdjustmentRefused]:
    if isinstance(points, bool) or not isinstance(points, int):
        return [InvalidAmount("The number of points must be a whole number.")]
    if points == 0:
        return [InvalidAmount("Enter a number of points other than zero.")]
    if abs(points) > MAX_POINTS:
        return [InvalidAmount(f"One adjustment can move at most {MAX_POINTS:,} points.")]
    return []


def _evaluate(
    *,
    account: LoyaltyAccount,
    points: int,
    reason: Reason | None,
    affects_lifetime: bool,
    note: str,
    allow_negative: bool,
    actor: AbstractBaseUser | None,
) -> AdjustmentPreview:
    problems = _check_amount(points)
    if problems:
        points = 0
    unit = account.program.terminology_other.lower()
    if reason is not None:
        if reason.program_id != account.program_id or not reason.active:
            problems.append(InactiveReason(f"The reason “{reason.label}” is not in use."))
        if points and (points > 0) != (reason.sign > 0):
            direction = "adds" if reason.sign > 0 else "removes"
            problems.append(ReasonSignMismatch(f"“{reason.label}” {direction} {unit}."))
        if reason.requires_note and not note.strip():
            problems.append(NoteRequired(f"A note is required for “{reason.label}”."))

    balance_after = account.balance + points
    lifetime_after = account.lifetime_points + (points if affects_lifetime else 0)
    if points < 0 and not allow_negative:
        if balance_after < 0:
            problems.append(
                InsufficientPoints(
                    f"The customer has {account.balance:,} {unit}; removing {-points:,} "
                    f"would leave {balance_after:,}."
                )
            )
        elif lifetime_after < 0:
            problems.append(
                InsufficientPoints(
                    f"The customer has earned {account.lifetime_points:,} {unit}; removing "
                    f"{-points:,} earned {unit} would leave {lifetime_after:,}."
                )
            )

    threshold = account.program.approval_threshold
    needs_approval = (
        threshold is not None
        and actor is not None
        and abs(points) > threshold
        and not is_manager(actor)
    )
    return AdjustmentPreview(
        balance_before=account.balance,
        balance_after=balance_after,
        lifetime_before=account.lifetime_points,
        lifetime_after=lifetime_after,
        problems=tuple(problems),
        needs_approval=needs_approval,
    )


def _lifetime_effect(points: int, reason: Reason | None, affects_lifetime: bool | None) -> bool:
    """Explicit choice first, then the reason's rule, then Square's: only earning counts."""
    if affects_lifetime is not None:
        return affects_lifetime
    if reason is not None:
        return reason.affects_lifetime
    return isinstance(points, int) and points > 0


def preview_adjustment(
    *,
    account: LoyaltyAccount,
    points: int,
    reason: Reason | None = None,
    affects_lifetime: bool | None = None,
    note: str = "",
    allow_negative: bool = False,
    actor: AbstractBaseUser | None = None,
) -> AdjustmentPreview:
    """What `adjust_points` with the same arguments would do now. Writes nothing."""
    return _evaluate(
        account=account,
        points=points,
        reason=reason,
        affects_lifetime=_lifetime_effect(points, reason, affects_lifetime),
        note=note,
        allow_negative=allow_negative,
        actor=actor,
    )


# --- Building blocks ------------------------------------------------------------------------


def _lock(account: LoyaltyAccount) -> LoyaltyAccount:
    """The account row, locked until the transaction ends (a no-op lock on SQLite, whose
    IMMEDIATE transactions already hold the database's write lock)."""
    return LoyaltyAccount.objects.select_for_update().select_related("program").get(pk=account.pk)


def _event_time(account: LoyaltyAccount) -> datetime:
    # Strictly after the account's previous event even if clocks step back between servers,
    # so that (created_at, id) is the true order of an account's events.
    now = timezone.now()
    if now <= account.updated_at:
        now = account.updated_at + timedelta(microseconds=1)
    return now


def _idempotency_scope(
    source: str, actor: AbstractBaseUser | None, api_client: ApiClient | None
) -> str:
    if api_client is not None:
        # The prefix, not the pk: an ApiClient's pk embeds the key's hash (~145 characters),
        # too long for the scope column (PostgreSQL enforces its 100; SQLite does not).
        return f"{source}:client:{api_client.prefix}"
    if actor is not None:
        return f"{source}:operator:{actor.pk}"
    return f"{source}:system"


def _append(
    account: LoyaltyAccount, *, points: int, affects_lifetime: bool, **fields: object
) -> LoyaltyEvent:
    now = _event_time(account)
    balance_before = account.balance
    account.balance += points
    if affects_lifetime:
        account.lifetime_points += points
    account.updated_at = now
    event = LoyaltyEvent.objects.create(
        program_id=account.program_id,
        account=account,
        points=points,
        affects_lifetime=affects_lifetime,
        balance_after=account.balance,
        lifetime_after=account.lifetime_points,
        created_at=now,
        **fields,
    )
    account.save(update_fields=["balance", "lifetime_points", "updated_at"])
    _update_lots(account, event, balance_before)
    return event


# --- Bulk adjustments ----------------------------------------------------------------------


@dataclass
class BulkLine:
    line: int
    account: LoyaltyAccount
    points: int
    reason: Reason
    history_title: str
    note: str
    visible_to_customer: bool


@dataclass
class BulkCheck:
    """The verdict on a bulk file: its valid lines, every error, and totals."""

    lines: list[BulkLine] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0
    customers: int = 0
    points_added: int = 0
    points_removed: int = 0


def _identity(values: dict[str, str]) -> tuple[str, str] | None:
    for column in bulk.IDENTITY_COLUMNS:
        if values.get(column):
            return column, values[column]
    return None


def _find_accounts(
    program: Program, wanted: dict[str, set[str]], *, lock: bool
) -> dict[tuple[str, str], LoyaltyAccount]:
    found: dict[tuple[str, str], LoyaltyAccount] = {}
    by_pk: dict[object, LoyaltyAccount] = {}
    for column, values in wanted.items():
        ordered = sorted(values)
        for start in range(0, len(ordered), 1_000):
            accounts = LoyaltyAccount.objects.filter(
                program=program, **{f"{column}__in": ordered[start : start + 1_000]}
            ).select_related("program")
            if lock:
                accounts = accounts.select_for_update(of=("self",)).order_by("pk")
            for account in accounts:
                # One instance per account, however it is named, so that applying rows
                # that name it by email and by phone updates one running balance.
                account = by_pk.setdefault(account.pk, account)
                found[(column, getattr(account, column))] = account
    return found


def check_bulk(*, program: Program, content: str, lock: bool = False) -> BulkCheck:
    """Judge every row of a bulk file against the ledger as it is now. Writes nothing.

    Each row is checked by the same rules as a single adjustment, against the balance the
    rows above it will have left, so a file that passes here applies as checked.
    """
    parsed = bulk.parse(content)
    check = BulkCheck(errors=list(parsed.errors), rows=len(parsed.rows))
    if any(e.field in ("header", "file") for e in parsed.errors):
        return check
    reasons = {r.code: r for r in Reason.objects.filter(program=program)}
    wanted: dict[str, set[str]] = {c: set() for c in bulk.IDENTITY_COLUMNS}
    identities: list[tuple[str, str] | None] = []
    for row in parsed.rows:
        identity = _identity(row.values)
        if identity is not None:
            column, value = identity
            try:
                customer_id, email, phone = normalize_identity(
                    **{
                        "customer_id": value if column == "customer_id" else None,
                        "email": value if column == "email" else None,
                        "phone": value if column == "phone" else None,
                    }
                )
            except LedgerError as exc:
                check.errors.append(RowError(row.line, column, exc.message))
                identities.append(None)
                continue
            identity = (column, customer_id or email or phone)
            wanted[column].add(identity[1])
        identities.append(identity)
    accounts = _find_accounts(program, wanted, lock=lock)

    shadows: dict[object, LoyaltyAccount] = {}
    seen: dict[tuple, int] = {}
    for row, identity in zip(parsed.rows, identities, strict=True):
        values, problems = row.values, []
        account = accounts.get(identity) if identity else None
        if identity is None and _identity(values) is None:
            problems.append(("customer", "Name the customer: email, phone or customer_id."))
        elif identity is not None and account is None:
            problems.append((identity[0], f"No customer with {identity[0]} “{identity[1]}”."))
        try:
            points = int(values.get("points", "").replace(",", "").replace("_", ""))
        except ValueError:
            points = None
            problems.append(("points", f"“{values.get('points', '')}” is not a whole number."))
        reason = reasons.get(values.get("reason", "").upper())
        if reason is None:
            problems.append(("reason", f"Unknown reason code “{values.get('reason', '')}”."))
        visible = bulk.parse_visible(values.get("visible_to_customer", ""))
        if visible is None:
            problems.append(("visible_to_customer", "Use true or false."))
        title = values.get("history_title", "")
        if len(title) > 200:
            problems.append(("history_title", "At most 200 characters."))
        if points is not None:
            check.points_added += max(points, 0)
            check.points_removed += max(-points, 0)
        if account is not None and points is not None and reason is not None:
            shadow = shadows.setdefault(account.pk, copy.copy(account))
            verdict = _evaluate(
                account=shadow,
                points=points,
                reason=reason,
                affects_lifetime=reason.affects_lifetime,
                note=values.get("note", ""),
                allow_negative=False,
                actor=None,
            )
            problems.extend((p.field or "points", p.message) for p in verdict.problems)
            duplicate_key = (account.pk, points, reason.pk, title, values.get("note", ""))
            if duplicate_key in seen:
                problems.append(("row", f"Same adjustment as line {seen[duplicate_key]}."))
            seen.setdefault(duplicate_key, row.line)
            if not problems:
                shadow.balance = verdict.balance_after
                shadow.lifetime_points = verdict.lifetime_after
        if problems:
            check.errors.extend(RowError(row.line, f, m) for f, m in problems)
            continue
        check.lines.append(
            BulkLine(
                line=row.line,
                account=account,
                points=points,
                reason=reason,
                history_title=title or reason.label,
                note=values.get("note", ""),
                visible_to_customer=visible,
            )
        )
    check.customers = len(shadows)
    check.errors.sort(key=lambda e: e.line)
    return check


def upload_bulk(
    *, program: Program, uploaded_by: AbstractBaseUser, filename: str, data: bytes
) -> tuple[BulkBatch, BulkCheck]:
    """Keep an uploaded file as a batch with its dry-run verdict. Changes no balance."""
    try:
        content = bulk.decode(data)
    except ValueError as exc:
        content, check = "", BulkCheck(errors=[RowError(1, "file", str(exc))])
    else:
        check = check_bulk(program=program, content=content)
    batch = BulkBatch.objects.create(
        program=program,
        uploaded_by=uploaded_by,
        # The name comes from the browser: no NUL bytes (PostgreSQL refuses them in text).
        filename=filename.replace("\x00", "")[:255],
        content=content,
        sha256=hashlib.sha256(data).hexdigest(),
        status=BulkBatch.Status.INVALID if check.errors else BulkBatch.Status.VALIDATED,
        rows=check.rows,
        customers=check.customers,
        points_added=check.points_added,
        points_removed=check.points_removed,
        errors=[e.as_dict() for e in check.errors[:MAX_STORED_ERRORS]],
    )
    return batch, check


def previous_application(batch: BulkBatch) -> BulkBatch | None:
    """An earlier batch with exactly this file that was applied, if any."""
    return (
        BulkBatch.objects.filter(
            program=batch.program, sha256=batch.sha256, status=BulkBatch.Status.APPLIED
        )
        .exclude(pk=batch.pk)
        .first()
    )


# Applying a checked file. The result is exactly what `_append` would leave row by row (the
# same events, balance_after chain, lots and consumptions, the same event times rule), but
# computed in memory per chunk of rows and written with a few multi-row statements instead of
# four or five single-row statements per row: ~470 → thousands of rows/s on PostgreSQL.
BULK_WRITE_ROWS = 1_000


@dataclass
class _OpenLot:
    """A lot with points left, as `_open_lots` would return it, kept in memory."""

    lot: PointLot
    order: tuple
    persisted_remaining: int | None = None  # what the database holds; None: not inserted yet


def _lot_order(lot: PointLot, sequence: tuple) -> tuple:
    # `_open_lots` order: soonest expiry first, never-expiring last, then oldest, then id
    # (lots made here come after every existing lot: their ids are higher).
    never = lot.expires_at is None
    return (never, lot.created_at if never else lot.expires_at, lot.created_at, sequence)


def _load_open_lots(accounts: list[LoyaltyAccount]) -> dict[object, list[_OpenLot]]:
    open_lots: dict[object, list[_OpenLot]] = {a.pk: [] for a in accounts}
    pks = list(open_lots)
    for start in range(0, len(pks), BULK_WRITE_ROWS):
        lots = PointLot.objects.filter(
            account_id__in=pks[start : start + BULK_WRITE_ROWS], remaining__gt=0
        ).order_by(F("expires_at").asc(nulls_last=True), "created_at", "id")
        for lot in lots:
            open_lots[lot.account_id].append(
                _OpenLot(lot, _lot_order(lot, (0, lot.pk)), persisted_remaining=lot.remaining)
            )
    return open_lots


def _update_rows(model, fields: list[str], rows: list[tuple]) -> None:
    """UPDATE model SET fields... for each (pk, *values) row, a thousand rows a statement."""
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    pk_column = model._meta.pk.column
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BULK_WRITE_ROWS):
            chunk = rows[start : start + BULK_WRITE_ROWS]
            if connection.vendor == "postgresql":
                types = [model._meta.pk.db_type(connection)] + [
                    model._meta.get_field(f).db_type(connection) for f in fields
                ]
                first = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
                rest = ", ".join(["(" + ", ".join(["%s"] * len(types)) + ")"] * (len(chunk) - 1))
                values = first + (", " + rest if rest else "")
                assignments = ", ".join(f"{f} = v.{f}" for f in fields)
                cursor.execute(
                    f"UPDATE {table} AS t SET {assignments} FROM (VALUES {values}) "
                    f"AS v(pk, {', '.join(fields)}) WHERE t.{pk_column} = v.pk",
                    [value for row in chunk for value in row],
                )
            else:
                for pk, *values in chunk:
                    model.objects.filter(pk=pk).update(**dict(zip(fields, values, strict=True)))


def _insert_rows(model, objs: list) -> None:
    """Insert new model instances: with COPY on PostgreSQL (no per-row SQL to build), with
    bulk_create elsewhere. Primary keys must be set already, unless the database makes them
    and nothing refers to them."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=BULK_WRITE_ROWS)
        return
    fields = [
        f
        for f in model._meta.concrete_fields
        if not (f.primary_key and getattr(objs[0], f.attname) is None)
    ]
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for obj in objs:
            row = [getattr(obj, f.attname) for f in fields]
            copy.write_row([v.value if isinstance(v, enum.Enum) else v for v in row])


def _allocate_ids(model, count: int) -> list[int]:
    """`count` fresh values of the model's id sequence (PostgreSQL), for rows that others refer
    to before they are inserted; None for each on other databases (bulk_create sets them)."""
    if connection.vendor != "postgresql" or not count:
        return [None] * count
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [model._meta.db_table, count],
        )
        return [row[0] for row in cursor.fetchall()]


def _append_bulk_lines(
    lines: list[BulkLine], *, batch: BulkBatch, progress: Callable[[int], None] | None
) -> None:
    """Append one ADJUST_POINTS event per checked line, in file order, to the locked accounts."""
    accounts = list({line.account.pk: line.account for line in lines}.values())
    spenders = list({line.account.pk: line.account for line in lines if line.points < 0}.values())
    open_lots = _load_open_lots(spenders)
    # Every lot in the database that this file may spend from, to write back what is left.
    stored = [opened for queue in open_lots.values() for opened in queue]
    # lot_expiry, with each program's policy parsed once rather than once a row.
    policies = {
        a.program_id: isodate.parse_duration(a.program.expiration_policy)
        for a in accounts
        if a.program.expiration_policy
    }
    for start in range(0, len(lines), BULK_WRITE_ROWS):
        events, lots, consumptions, opened_here = [], [], [], []
        for line in lines[start : start + BULK_WRITE_ROWS]:
            account, points = line.account, line.points
            affects_lifetime = line.reason.affects_lifetime
            now = _event_time(account)
            balance_before = account.balance
            account.balance += points
            if affects_lifetime:
                account.lifetime_points += points
            account.updated_at = now
            event = LoyaltyEvent(
                program_id=account.program_id,
                account=account,
                points=points,
                affects_lifetime=affects_lifetime,
                balance_after=account.balance,
                lifetime_after=account.lifetime_points,
                created_at=now,
                type=LoyaltyEvent.Type.ADJUST_POINTS,
                reason=line.reason,
                reason_text=line.reason.label,
                history_title=line.history_title,
                note=line.note,
                visible_to_customer=line.visible_to_customer,
                source=Source.BULK_IMPORT,
                actor=batch.uploaded_by,
                batch=batch,
            )
            events.append(event)
            if points > 0:
                # As `_update_lots`: only the part above zero is spendable.
                above_zero = max(0, balance_before + points) - max(0, balance_before)
                if above_zero > 0:
                    lot = PointLot(
                        account=account,
                        event=event,
                        points=above_zero,
                        remaining=above_zero,
                        expires_at=(
                            now + policies[account.program_id]
                            if account.program_id in policies
                            else None
                        ),
                        created_at=now,
                    )
                    lots.append(lot)
                    if account.pk in open_lots:
                        opened = _OpenLot(lot, _lot_order(lot, (1, len(stored))))
                        bisect.insort(open_lots[account.pk], opened, key=lambda o: o.order)
                        stored.append(opened)
                        opened_here.append(opened)
                continue
            # As `_update_lots`: take from the first open lots; the emptied ones drop out.
            needed, queue, emptied = -points, open_lots[account.pk], 0
            for opened in queue:
                take = min(opened.lot.remaining, needed)
                opened.lot.remaining -= take
                consumptions.append(LotConsumption(event=event, lot=opened.lot, points=take))
                needed -= take
                emptied += opened.lot.remaining == 0
                if needed == 0:
                    break
            del queue[:emptied]
        _insert_rows(LoyaltyEvent, events)
        for lot, pk in zip(lots, _allocate_ids(PointLot, len(lots)), strict=True):
            lot.pk = pk
        if connection.vendor == "postgresql":
            _insert_rows(PointLot, lots)
        else:
            PointLot.objects.bulk_create(lots)  # sets the ids the consumptions refer to
        for opened in opened_here:
            opened.persisted_remaining = opened.lot.remaining
        for consumption in consumptions:
            consumption.lot_id = consumption.lot.pk
        _insert_rows(LotConsumption, consumptions)
        if progress is not None:
            progress(start + len(events))
    _update_rows(
        PointLot,
        ["remaining"],
        [(o.lot.pk, o.lot.remaining) for o in stored if o.lot.remaining != o.persisted_remaining],
    )
    _update_rows(
        LoyaltyAccount,
        ["balance", "lifetime_points", "updated_at"],
        [(a.pk, a.balance, a.lifetime_points, a.updated_at) for a in accounts],
    )


def _refuse_reapplying(batch: BulkBatch) -> None:
    """DuplicateBulkFile when this exact file was applied before."""
    earlier = previous_application(batch)
    if earlier is not None:
        raise DuplicateBulkFile(
            f"This exact file was already applied on {earlier.applied_at:%Y-%m-%d %H:%M} "
            f"(batch {earlier.pk})."
        )


@transaction.atomic
def apply_bulk(
    *,
    batch: BulkBatch,
    allow_duplicate: bool = False,
    progress: Callable[[int], None] | None = None,
) -> BulkBatch:
    """Apply every row of the batch's file, or none: one transaction, the accounts locked,
    every row checked again against the locked balances. Events carry source BULK_IMPORT,
    the uploader as actor, and the batch."""
    batch = BulkBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.status == BulkBatch.Status.APPLIED:
        raise BatchNotApplicable("This batch was already applied.")
    if batch.status == BulkBatch.Status.INVALID:
        raise BatchNotApplicable("This file has errors: fix them and upload it again.")
    if not allow_duplicate:
        _refuse_reapplying(batch)
    check = check_bulk(program=batch.program, content=batch.content, lock=True)
    if check.errors:
        raise BulkRejected([e.as_dict() for e in check.errors])
    _append_bulk_lines(check.lines, batch=batch, progress=progress)
    batch.status = BulkBatch.Status.APPLIED
    batch.rows_applied = len(check.lines)
    batch.applied_at = timezone.now()
    batch.errors = []
    batch.failure = ""
    batch.save()
    return batch


def run_bulk(
    *,
    batch: BulkBatch,
    allow_duplicate: bool = False,
    progress: Callable[[int], None] | None = None,
) -> BulkBatch:
    """`apply_bulk`, and when it refuses, keep why on the batch (status FAILED) and re-raise."""
    try:
        return apply_bulk(batch=batch, allow_duplicate=allow_duplicate, progress=progress)
    except LedgerError as exc:
        errors = exc.errors[:MAX_STORED_ERRORS] if isinstance(exc, BulkRejected) else []
        if not isinstance(exc, BatchNotApplicable):
            BulkBatch.objects.filter(pk=batch.pk).update(
                status=BulkBatch.Status.FAILED, failure=exc.message, errors=errors
            )
        raise


def submit_bulk(*, batch: BulkBatch, allow_duplicate: bool = False) -> BulkBatch:
    """Apply a checked batch now, or, when it is large, queue it for the job worker."""
    if batch.rows <= settings.BULK_INLINE_ROWS:
        return run_bulk(batch=batch, allow_duplicate=allow_duplicate)
    if not allow_duplicate:
        _refuse_reapplying(batch)
    # The conditional update claims the batch, so a double click queues it once.
    claimable = [BulkBatch.Status.VALIDATED, BulkBatch.Status.FAILED]
    with transaction.atomic():
        if not BulkBatch.objects.filter(pk=batch.pk, status__in=claimable).update(
            status=BulkBatch.Status.QUEUED, failure=""
        ):
            raise BatchNotApplicable("This batch is already queued, applied or invalid.")
        from .tasks import apply_bulk_batch  # the task module imports this one

        transaction.on_commit(
            lambda: apply_bulk_batch.enqueue(str(batch.pk), allow_duplicate=allow_duplicate)
        )
    batch.refresh_from_db()
    return batch


# --- Point lots (expiry) --------------------------------------------------------------------


def lot_expiry(program: Program, earned_at: datetime) -> datetime | None:
    """When points earned at `earned_at` expire under the program's policy (None: never)."""
    if not program.expiration_policy:
        return None
    return earned_at + isodate.parse_duration(program.expiration_policy)


def _open_lots(account: LoyaltyAccount) -> QuerySet[PointLot]:
    """Lots with points left, soonest-expiring first (never-expiring last), then oldest."""
    return PointLot.objects.filter(account=account, remaining__gt=0).order_by(
        F("expires_at").asc(nulls_last=True), "created_at", "id"
    )


def _update_lots(account: LoyaltyAccount, event: LoyaltyEvent, balance_before: int) -> None:
    """Keep the lots in step with `event`: sum(remaining) == max(balance, 0) afterwards."""
    original = event.reverses
    if event.points > 0:
        # Only the part above zero is spendable; the rest pays back a negative balance.
        above_zero = max(0, balance_before + event.points) - max(0, balance_before)
        restored = 0
        if original is not None:
            # Undoing a removal gives the points back to the lots they were taken from.
            for taken in original.consumptions.order_by("id"):
                give = min(taken.points, above_zero - restored)
                if give <= 0:
                    break
                PointLot.objects.filter(pk=taken.lot_id).update(remaining=F("remaining") + give)
                restored += give
        if above_zero > restored:
            PointLot.objects.create(
                account=account,
                event=event,
                points=above_zero - restored,
                remaining=above_zero - restored,
                expires_at=lot_expiry(account.program, event.created_at),
                created_at=event.created_at,
            )
        return
    needed = -event.points
    # Undoing an earning takes back that event's own points first.
    page = list(PointLot.objects.filter(event=original, remaining__gt=0)) if original else []
    consumptions = []
    while needed > 0:
        # A lot emptied here drops out of the next query; only the last one is partly used.
        page = page or list(_open_lots(account)[:100])
        if not page:
            break  # the balance goes below zero: nothing left to take from
        for lot in page:
            take = min(lot.remaining, needed)
            PointLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - take)
            consumptions.append(LotConsumption(event=event, lot=lot, points=take))
            needed -= take
            if needed == 0:
                break
        page = []
    LotConsumption.objects.bulk_create(consumptions)


@transaction.atomic
def expire_points(*, account: LoyaltyAccount, now: datetime | None = None) -> LoyaltyEvent | None:
    """Expire the account's points whose lots are past their expiry date, as one
    EXPIRE_POINTS event; None when nothing is due. Safe to run twice or concurrently: the
    second run finds the lots already emptied."""
    account = _lock(account)
    now = now or timezone.now()
    due = (
        PointLot.objects.filter(account=account, remaining__gt=0, expires_at__lte=now).aggregate(
            total=Sum("remaining")
        )["total"]
        or 0
    )
    if due == 0:
        return None
    # The due lots expire before any other, so the ordinary soonest-first consumption in
    # _update_lots takes exactly them.
    return _append(
        account,
        points=-due,
        affects_lifetime=False,
        type=LoyaltyEvent.Type.EXPIRE_POINTS,
        history_title=f"{account.program.terminology_other} expired",
        source=Source.SYSTEM,
    )


@transaction.atomic
def rebuild_lots(*, account: LoyaltyAccount) -> None:
    """Recompute the account's lots from its events (they are derived data)."""
    account = _lock(account)
    LotConsumption.objects.filter(lot__account=account).delete()
    PointLot.objects.filter(account=account).delete()
    balance = 0
    for event in account.events.select_related("reverses").order_by("created_at", "id"):
        _update_lots(account, event, balance)
        balance += event.points


# --- Actions --------------------------------------------------------------------------------


@transaction.atomic
def adjust_points(
    *,
    account: LoyaltyAccount,
    points: int,
    source: str,
    reason: Reason | None = None,
    reason_text: str = "",
    affects_lifetime: bool | None = None,
    history_title: str = "",
    note: str = "",
    visible_to_customer: bool = True,
    allow_negative: bool = False,
    location_id: str = "",
    actor: AbstractBaseUser | None = None,
    api_client: ApiClient | None = None,
    idempotency_key: str | None = None,
) -> LoyaltyEvent:
    """Add (points > 0) or remove (points < 0) points, for a reason.

    Refuses with the first problem `preview_adjustment` would report, or `ApprovalRequired`
    when an agent's adjustment is above the program's approval threshold. With an
    idempotency key, a retry of the same request returns the first event.
    """
    account = _lock(account)
    lifetime = _lifetime_effect(points, reason, affects_lifetime)
    record = None
    if idempotency_key:
        record, new = claim_key(
            scope=_idempotency_scope(source, actor, api_client),
            key=idempotency_key,
            fingerprint=fingerprint(
                "adjust",
                account=account.pk,
                points=points,
                reason=reason.pk if reason else None,
                reason_text=reason_text,
                affects_lifetime=lifetime,
                history_title=history_title,
                note=note,
                visible_to_customer=visible_to_customer,
                allow_negative=allow_negative,
                location_id=location_id,
            ),
        )
        if not new:
            return record.event

    preview = _evaluate(
        account=account,
        points=points,
        reason=reason,
        affects_lifetime=lifetime,
        note=note,
        allow_negative=allow_negative,
        actor=actor,
    )
    if preview.problems:
        raise preview.problems[0]
    if preview.needs_approval:
        raise ApprovalRequired(
            f"Adjustments above {account.program.approval_threshold:,} "
            f"{account.program.terminology_other.lower()} need a manager's approval."
        )

    event = _append(
        account,
        points=points,
        affects_lifetime=lifetime,
        type=LoyaltyEvent.Type.ADJUST_POINTS,
        reason=reason,
        reason_text=reason_text or (reason.label if reason else ""),
        history_title=history_title or (reason.label if reason else reason_text),
        note=note,
        visible_to_customer=visible_to_customer,
        source=source,
        actor=actor,
        api_client=api_client,
        location_id=location_id,
    )
    if record is not None:
        remember(record, event=event)
    return event


@transaction.atomic
def accumulate_points(
    *,
    account: LoyaltyAccount,
    points: int,
    source: str,
    order_id: str | None = None,
    location_id: str = "",
    history_title: str = "",
    actor: AbstractBaseUser | None = None,
    api_client: ApiClient | None = None,
    idempotency_key: str | None = None,
) -> LoyaltyEvent:
    """Credit points earned by a purchase (counts towards points earned)."""
    account = _lock(account)
    record = None
    if idempotency_key:
        record, new = claim_key(
            scope=_idempotency_scope(source, actor, api_client),
            key=idempotency_key,
            fingerprint=fingerprint(
                "accumulate",
                account=account.pk,
                points=points,
                order_id=order_id,
                location_id=location_id,
                history_title=history_title,
            ),
        )
        if not new:
            return record.event

    problems = _check_amount(points)
    if not problems and points < 0:
        problems = [InvalidAmount("Accumulated points must be positive.")]
    if problems:
        raise problems[0]
    if (
        order_id
        and LoyaltyEvent.objects.filter(
            account=account, order_id=order_id, type=LoyaltyEvent.Type.ACCUMULATE_POINTS
        ).exists()
    ):
        raise DuplicateOrder()

    event = _append(
        account,
        points=points,
        affects_lifetime=True,
        type=LoyaltyEvent.Type.ACCUMULATE_POINTS,
        history_title=history_title or "Points earned",
        source=source,
        actor=actor,
        api_client=api_client,
        order_id=order_id or None,
        location_id=location_id,
    )
    if record is not None:
        remember(record, event=event)
    return event


@transaction.atomic
def reverse_event(
    *,
    event: LoyaltyEvent,
    note: str,
    source: str,
    allow_negative: bool = False,
    actor: AbstractBaseUser | None = None,
    api_client: ApiClient | None = None,
    idempotency_key: str | None = None,
    ip: str | None = None,
) -> LoyaltyEvent:
    """Undo `event` with a REVERSAL event of the opposite points. An event is reversed once."""
    account = _lock(event.account)
    record = None
    if idempotency_key:
        record, new = claim_key(
            scope=_idempotency_scope(source, actor, api_client),
            key=idempotency_key,
            fingerprint=fingerprint(
                "reverse", event=event.pk, note=note, allow_negative=allow_negative
            ),
        )
        if not new:
            return record.event

    if event.type == LoyaltyEvent.Type.REVERSAL:
        raise NotReversible("A reversal cannot itself be reversed; make a new adjustment.")
    if LoyaltyEvent.objects.filter(reverses=event).exists():
        raise AlreadyReversed()
    if not note.strip():
        raise NoteRequired("Say why this event is reversed.")
    preview = _evaluate(
        account=account,
        points=-event.points,
        reason=None,
        affects_lifetime=event.affects_lifetime,
        note=note,
        allow_negative=allow_negative,
        actor=None,
    )
    if preview.problems:
        raise preview.problems[0]

    reversal = _append(
        account,
        points=-event.points,
        affects_lifetime=event.affects_lifetime,
        type=LoyaltyEvent.Type.REVERSAL,
        reason=event.reason,
        reason_text=event.reason_text,
        history_title=f"Reversal: {event.history_title}" if event.history_title else "Reversal",
        note=note,
        visible_to_customer=event.visible_to_customer,
        source=source,
        actor=actor,
        api_client=api_client,
        location_id=event.location_id,
        reverses=event,
    )
    if record is not None:
        remember(record, event=reversal)
    audit.record(
        action="event.reversed",
        actor=actor,
        api_client=api_client,
        target=event,
        summary=f"Reversed {event.points:+,} on {account.display_name}: {note.strip()}",
        details={"event": str(event.pk), "reversal": str(reversal.pk), "points": reversal.points},
        ip=ip,
    )
    return reversal


# --- Reasons --------------------------------------------------------------------------------
# A reason's code and sign are fixed once it exists: past events point at it, and changing
# what it means would rewrite their meaning. Labels and flags may change; retiring a reason
# is deactivation, never deletion.


@transaction.atomic
def add_reason(
    *,
    program: Program,
    code: str,
    label: str,
    sign: int,
    affects_lifetime: bool,
    requires_note: bool = False,
    actor: AbstractBaseUser | None = None,
    ip: str | None = None,
) -> Reason:
    """A new active reason, after the program's existing ones."""
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
    audit.record(
        action="reason.added",
        actor=actor,
        target=reason,
        summary=f"Added reason {reason.code} “{reason.label}”",
        details={"code": code, "sign": sign, "affects_lifetime": affects_lifetime},
        ip=ip,
    )
    return reason


@transaction.atomic
def change_reason(
    *,
    reason: Reason,
    label: str,
    affects_lifetime: bool,
    requires_note: bool,
    actor: AbstractBaseUser | None = None,
    ip: str | None = None,
) -> Reason:
    """Rename a reason or change whether it counts towards points earned or needs a note."""
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
    audit.record(
        action="reason.changed",
        actor=actor,
        target=reason,
        summary=f"Changed reason {reason.code} “{reason.label}”",
        details={"before": before, "after": after},
        ip=ip,
    )
    return reason


@transaction.atomic
def set_reason_active(
    *,
    reason: Reason,
    active: bool,
    actor: AbstractBaseUser | None = None,
    ip: str | None = None,
) -> Reason:
    """Offer a reason to operators again, or stop offering it (its events stay as they are)."""
    reason.active = active
    reason.save(update_fields=["active"])
    audit.record(
        action="reason.activated" if active else "reason.deactivated",
        actor=actor,
        target=reason,
        summary=f"{'Reactivated' if active else 'Deactivated'} reason {reason.code}",
        ip=ip,
    )
    return reason


# --- Approvals ------------------------------------------------------------------------------
# Four eyes: an agent's adjustment above the program's threshold is stored as a request, and
# becomes an event only when another operator, a manager, approves it. The event's actor is
# the requester (who asked for the change); the request keeps who approved it.


def _points_unit(account: LoyaltyAccount, points: int) -> str:
    return account.program.points_label(points).lower()


@transaction.atomic
def request_adjustment(
    *,
    account: LoyaltyAccount,
    points: int,
    reason: Reason,
    requested_by: AbstractBaseUser,
    history_title: str = "",
    note: str = "",
    visible_to_customer: bool = True,
    idempotency_key: str | None = None,
    ip: str | None = None,
) -> ApprovalRequest:
    """Ask a manager to approve an adjustment. Refuses what `adjust_points` would refuse
    (other than the approval itself); the same token twice makes one request."""
    account = _lock(account)
    fields = {
        "account": account,
        "points": points,
        "reason": reason,
        "history_title": history_title or reason.label,
        "note": note,
        "visible_to_customer": visible_to_customer,
    }
    if idempotency_key:
        # The account lock serializes a double submit, so the second one finds the first.
        first = ApprovalRequest.objects.filter(
            requested_by=requested_by, token=idempotency_key
        ).first()
        if first is not None:
            if any(getattr(first, name) != value for name, value in fields.items()):
                raise IdempotencyConflict()
            return first
    preview = _evaluate(
        account=account,
        points=points,
        reason=reason,
        affects_lifetime=reason.affects_lifetime,
        note=note,
        allow_negative=False,
        actor=None,
    )
    if preview.problems:
        raise preview.problems[0]
    approval = ApprovalRequest.objects.create(
        program_id=account.program_id,
        requested_by=requested_by,
        token=idempotency_key or None,
        created_at=timezone.now(),
        **fields,
    )
    audit.record(
        action="approval.requested",
        actor=requested_by,
        target=approval,
        summary=(
            f"Asked to adjust {account.display_name} by {points:+,} "
            f"{_points_unit(account, points)} for “{reason.label}”"
        ),
        details={"account": str(account.pk), "points": points, "reason": reason.code},
        ip=ip,
    )
    return approval


def _decidable(request: ApprovalRequest, manager: AbstractBaseUser) -> ApprovalRequest:
    """The request, locked, after the checks every decision shares."""
    request = (
        ApprovalRequest.objects.select_for_update(of=("self",))
        .select_related("decided_by")
        .get(pk=request.pk)
    )
    if request.requested_by_id == manager.pk:
        raise SelfApproval()
    if not is_manager(manager):
        raise LedgerError("Only a manager can approve or reject a request.")
    return request


@transaction.atomic
def approve_request(
    *,
    request: ApprovalRequest,
    manager: AbstractBaseUser,
    idempotency_key: str | None = None,
    ip: str | None = None,
) -> LoyaltyEvent:
    """Make the requested adjustment now, checked against the balance as it is now.

    Approving twice is refused (`ApprovalNotPending`), except that a retry by the same manager
    carrying an idempotency key gets the event of the first approval.
    """
    account = _lock(request.account)
    request = _decidable(request, manager)
    if request.status != ApprovalRequest.Status.PENDING:
        if (
            idempotency_key
            and request.status == ApprovalRequest.Status.APPROVED
            and request.decided_by_id == manager.pk
        ):
            return request.event
        raise ApprovalNotPending(
            f"This request was already {request.get_status_display().lower()} "
            f"by {request.decided_by.email}."
        )
    reason = request.reason
    preview = _evaluate(
        account=account,
        points=request.points,
        reason=reason,
        affects_lifetime=reason.affects_lifetime,
        note=request.note,
        allow_negative=False,
        actor=None,  # the approval is this very decision
    )
    if preview.problems:
        raise preview.problems[0]
    event = _append(
        account,
        points=request.points,
        affects_lifetime=reason.affects_lifetime,
        type=LoyaltyEvent.Type.ADJUST_POINTS,
        reason=reason,
        reason_text=reason.label,
        history_title=request.history_title or reason.label,
        note=request.note,
        visible_to_customer=request.visible_to_customer,
        source=Source.ADMIN_UI,
        actor=request.requested_by,
    )
    request.status = ApprovalRequest.Status.APPROVED
    request.decided_by = manager
    request.decided_at = event.created_at
    request.event = event
    request.save(update_fields=["status", "decided_by", "decided_at", "event"])
    audit.record(
        action="approval.approved",
        actor=manager,
        target=request,
        summary=(
            f"Approved {request.points:+,} {_points_unit(account, request.points)} on "
            f"{account.display_name} asked by {request.requested_by.email}"
        ),
        details={"event": str(event.pk), "points": request.points, "account": str(account.pk)},
        ip=ip,
    )
    return event


@transaction.atomic
def reject_request(
    *, request: ApprovalRequest, manager: AbstractBaseUser, note: str, ip: str | None = None
) -> ApprovalRequest:
    """Refuse the requested adjustment, saying why; nothing changes on the account."""
    request = _decidable(request, manager)
    if request.status != ApprovalRequest.Status.PENDING:
        raise ApprovalNotPending(
            f"This request was already {request.get_status_display().lower()} "
            f"by {request.decided_by.email}."
        )
    if not note.strip():
        raise NoteRequired("Say why the request is rejected.")
    request.status = ApprovalRequest.Status.REJECTED
    request.decided_by = manager
    request.decided_at = timezone.now()
    request.decision_note = note.strip()
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit.record(
        action="approval.rejected",
        actor=manager,
        target=request,
        summary=(
            f"Rejected {request.points:+,} on {request.account.display_name} asked by "
            f"{request.requested_by.email}: {request.decision_note}"
        ),
        details={"points": request.points, "account": str(request.account_id)},
        ip=ip,
    )
    return request
