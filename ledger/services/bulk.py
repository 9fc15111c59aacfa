"""Bulk adjustments: a CSV file of adjustments, checked, then applied all at once or not at all.

The steps, each with its own name:

* `check_bulk_file`: judge every row by the same rules as a single adjustment (a dry run);
* `upload_bulk_file`: keep an uploaded file as a batch with that verdict;
* `apply_batch`: apply a checked batch now, in one transaction (and keep why, if refused);
* `apply_or_queue_batch`: what the console does: apply a small batch now, queue a large one for
  the job worker, which runs `apply_queued_batch`;
* `recover_stale_batches`: requeue (or fail) a batch whose worker stopped mid-apply.
"""

import functools
import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_tasks import task

from accounts.identities import Identity
from accounts.models import LoyaltyAccount, Program
from loyalty_admin import metrics

from ..exceptions import (
    BatchNotApplicable,
    BulkRejected,
    DuplicateBulkFile,
    LedgerError,
    Refusal,
)
from ..lookups import reasons_by_code, unknown_reason
from ..models import BulkBatch, LoyaltyEvent, Reason
from . import bulk_file
from .actors import Actor
from .bulk_file import RowError
from .bulk_writer import BulkAccount, BulkLine, collector_paused, read_accounts, write_lines
from .rules import amount_problems, balance_problems, fixed_problems

log = logging.getLogger(__name__)

# A batch keeps the first errors of its file for the report; the count is always exact.
MAX_STORED_ERRORS = 1_000


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
    for column in bulk_file.IDENTITY_COLUMNS:
        if values.get(column):
            return column, values[column]
    return None


def _find_accounts(
    program: Program, wanted: dict[str, set[str]], *, lock: bool
) -> dict[tuple[str, str], BulkAccount]:
    found: dict[tuple[str, str], BulkAccount] = {}
    by_pk: dict[object, BulkAccount] = {}
    for column, values in wanted.items():
        if not values:
            continue
        for value, account in read_accounts(program, column, list(values), lock=lock):
            # One record per account, however it is named, so that applying rows
            # that name it by email and by phone moves one running balance.
            found[(column, value)] = by_pk.setdefault(account.pk, account)
    closed = {a.merged_into_id for a in by_pk.values() if a.is_closed}
    if closed:
        survivors = LoyaltyAccount.objects.in_bulk(closed)
        for account in by_pk.values():
            if account.is_closed:
                account.merged_into = survivors[account.merged_into_id]
    return found


@collector_paused()
def check_bulk_file(
    *, program: Program, content: str, actor: Actor, lock: bool = False
) -> BulkCheck:
    """Judge every row of a bulk file against the ledger as it is now. Writes nothing.

    Each row is checked by the same rules as a single adjustment by `actor`, against the
    balance the rows above it will have left, so a file that passes here applies as checked.
    """
    parsed = bulk_file.parse(content)
    check = BulkCheck(errors=list(parsed.errors), rows=len(parsed.rows))
    if any(e.field in ("header", "file") for e in parsed.errors):
        return check
    reasons = reasons_by_code(program)
    wanted: dict[str, set[str]] = {c: set() for c in bulk_file.IDENTITY_COLUMNS}
    # Each identity, reason code and visibility word is read once, however many rows name it.
    normalized: dict[tuple[str, str], tuple[str, str] | Refusal] = {}
    identities: list[tuple[str, str] | None] = []
    for row in parsed.rows:
        identity = _identity(row.values)
        if identity is not None:
            known = normalized.get(identity)
            if known is None:
                column, value = identity
                try:
                    lookup = Identity.of(**{column: value}).lookup()
                    known = (column, next(iter(lookup.values())))
                except Refusal as exc:
                    known = exc
                normalized[identity] = known
            if isinstance(known, Refusal):
                check.errors.append(RowError(row.line, identity[0], known.message))
                identities.append(None)
                continue
            identity = known
            wanted[identity[0]].add(identity[1])
        identities.append(identity)
    accounts = _find_accounts(program, wanted, lock=lock)

    reason_of = functools.lru_cache(maxsize=None)(
        lambda code: reasons.get(Reason.normalize_code(code))
    )
    visible_of = functools.lru_cache(maxsize=None)(bulk_file.parse_visible)
    unit = program.terminology_other.lower()
    # The problems that do not depend on the balance, by (account closed into, points, reason,
    # title, note): the same for every open account, so judged once per distinct row.
    fixed: dict[tuple, tuple[list, bool]] = {}
    shadows: dict[object, list[int]] = {}  # account: [balance, points earned] after the rows
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
        reason = reason_of(values.get("reason", ""))
        if reason is None:
            problems.append(("reason", unknown_reason(values.get("reason", "")).message))
        visible = visible_of(values.get("visible_to_customer", ""))
        if visible is None:
            problems.append(("visible_to_customer", "Use true or false."))
        title, note = values.get("history_title", ""), values.get("note", "")
        if account is not None and points is not None and reason is not None:
            key = (account.merged_into_id, points, reason.pk, title, note)
            judged = fixed.get(key)
            if judged is None:
                found = fixed_problems(
                    account=account,
                    points=points,
                    reason=reason,
                    actor=actor,
                    note=note,
                    history_title=title,
                )
                moves = not (account.is_closed or amount_problems(points))
                judged = fixed[key] = ([(p.field or "points", p.message) for p in found], moves)
            problems.extend(judged[0])
            amount = points if judged[1] else 0
            shadow = shadows.get(account.pk)
            if shadow is None:
                shadow = shadows[account.pk] = [account.balance, account.lifetime_points]
            affects_lifetime = reason.affects_lifetime
            problems.extend(
                (p.field or "points", p.message)
                for p in balance_problems(
                    balance=shadow[0],
                    lifetime_points=shadow[1],
                    amount=amount,
                    affects_lifetime=affects_lifetime,
                    unit=unit,
                    may_overdraw=False,
                )
            )
            duplicate_key = (account.pk, points, reason.pk, title, note)
            if duplicate_key in seen:
                problems.append(("row", f"Same adjustment as line {seen[duplicate_key]}."))
            else:
                seen[duplicate_key] = row.line
            if not problems:
                shadow[0] += amount
                if affects_lifetime:
                    shadow[1] += amount
        if problems:
            check.errors.extend(RowError(row.line, f, m) for f, m in problems)
            continue
        # The totals are what applying the file would do: valid rows only.
        if points > 0:
            check.points_added += points
        else:
            check.points_removed -= points
        check.lines.append(
            BulkLine(
                line=row.line,
                account=account,
                points=points,
                reason=reason,
                history_title=title or reason.label,
                note=note,
                visible_to_customer=visible,
            )
        )
    check.customers = len(shadows)
    check.errors.sort(key=lambda e: e.line)
    return check


def upload_bulk_file(
    *, program: Program, actor: Actor, filename: str, data: bytes
) -> tuple[BulkBatch, BulkCheck]:
    """Keep an uploaded file as a batch with its dry-run verdict. Changes no balance."""
    actor.require_manager("upload or apply a bulk file")
    try:
        content = bulk_file.decode(data)
    except ValueError as exc:
        content, check = "", BulkCheck(errors=[RowError(1, "file", str(exc))])
    else:
        check = check_bulk_file(program=program, content=content, actor=actor)
    batch = BulkBatch.objects.create(
        program=program,
        uploaded_by=actor.operator,
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


def _refuse_reapplying(batch: BulkBatch) -> None:
    """DuplicateBulkFile when this exact file was applied before."""
    earlier = previous_application(batch)
    if earlier is not None:
        raise DuplicateBulkFile(
            f"This exact file was already applied on {earlier.applied_at:%Y-%m-%d %H:%M} "
            f"(batch {earlier.pk})."
        )


def _uploader(batch: BulkBatch) -> Actor:
    """Rows apply as the manager who uploaded the file, through the bulk face."""
    return Actor(source=LoyaltyEvent.Source.BULK_IMPORT, operator=batch.uploaded_by)


@transaction.atomic
def _apply_atomically(
    batch: BulkBatch, *, allow_duplicate: bool, progress: Callable[[int], None] | None
) -> BulkBatch:
    batch = BulkBatch.objects.select_for_update().select_related("uploaded_by").get(pk=batch.pk)
    if batch.status == BulkBatch.Status.APPLIED:
        raise BatchNotApplicable("This batch was already applied.")
    if batch.status == BulkBatch.Status.INVALID:
        raise BatchNotApplicable("This file has errors: fix them and upload it again.")
    if not allow_duplicate:
        _refuse_reapplying(batch)
    actor = _uploader(batch)
    check = check_bulk_file(program=batch.program, content=batch.content, actor=actor, lock=True)
    if check.errors:
        raise BulkRejected([e.as_dict() for e in check.errors])
    with collector_paused():
        write_lines(check.lines, batch=batch, actor=actor, progress=progress)
    _count_applied(check.lines)
    batch.status = BulkBatch.Status.APPLIED
    batch.rows_applied = len(check.lines)
    batch.applied_at = timezone.now()
    batch.errors = []
    batch.failure = ""
    # Not the file's content, which the apply only read: written again, a large file's text
    # would be sent, compressed and logged once more.
    batch.save(update_fields=["status", "rows_applied", "applied_at", "errors", "failure"])
    return batch


def _count_applied(lines: list[BulkLine]) -> None:
    by_reason = Counter(line.reason.code for line in lines)

    def count() -> None:
        metrics.BULK_ROWS_APPLIED.inc(len(lines))
        for reason, rows in by_reason.items():
            metrics.ADJUSTMENTS.labels(
                face=LoyaltyEvent.Source.BULK_IMPORT,
                type=LoyaltyEvent.Type.ADJUST_POINTS,
                reason=reason,
            ).inc(rows)

    metrics.after_commit(count)


def apply_batch(
    *,
    batch: BulkBatch,
    allow_duplicate: bool = False,
    progress: Callable[[int], None] | None = None,
) -> BulkBatch:
    """Apply every row of the batch's file, or none: one transaction, the accounts locked,
    every row checked again against the locked balances. Events carry source BULK_IMPORT,
    the uploader as actor, and the batch. A refusal is kept on the batch (status FAILED,
    with the rows' errors) and raised."""
    try:
        return _apply_atomically(batch, allow_duplicate=allow_duplicate, progress=progress)
    except LedgerError as exc:
        errors = exc.errors[:MAX_STORED_ERRORS] if isinstance(exc, BulkRejected) else []
        if not isinstance(exc, BatchNotApplicable):
            BulkBatch.objects.filter(pk=batch.pk).update(
                status=BulkBatch.Status.FAILED, failure=exc.message, errors=errors
            )
        raise


def apply_or_queue_batch(
    *, batch: BulkBatch, actor: Actor, allow_duplicate: bool = False
) -> BulkBatch:
    """Apply a checked batch now, or, when it is large, queue it for the job worker."""
    actor.require_manager("upload or apply a bulk file")
    if batch.rows <= settings.BULK_INLINE_ROWS:
        return apply_batch(batch=batch, allow_duplicate=allow_duplicate)
    if not allow_duplicate:
        _refuse_reapplying(batch)
    # The conditional update claims the batch, so a double click queues it once.
    claimable = [BulkBatch.Status.VALIDATED, BulkBatch.Status.FAILED]
    with transaction.atomic():
        if not BulkBatch.objects.filter(pk=batch.pk, status__in=claimable).update(
            status=BulkBatch.Status.QUEUED, failure=""
        ):
            raise BatchNotApplicable("This batch is already queued, applied or invalid.")
        transaction.on_commit(
            lambda: apply_queued_batch.enqueue(str(batch.pk), allow_duplicate=allow_duplicate)
        )
    batch.refresh_from_db()
    return batch


# --- The job worker (django-tasks, database backend; `manage.py db_worker` runs it) ---------


def progress_key(batch_id: object) -> str:
    return f"bulk-progress:{batch_id}"


def applied_so_far(batch: BulkBatch) -> int:
    """Rows the worker has written so far (inside its not yet committed transaction)."""
    if batch.status == BulkBatch.Status.APPLIED:
        return batch.rows_applied
    return caches["shared"].get(progress_key(batch.pk), 0)


def heartbeat_key(batch_id: object) -> str:
    return f"bulk-heartbeat:{batch_id}"


@contextmanager
def heartbeat(batch_id: object) -> Iterator[None]:
    """While the block runs, a thread tells the shared cache every few seconds that this
    worker is still applying the batch. It cannot be written in the database: the batch row
    is locked by the apply's own transaction until it ends."""
    cache, every = caches["shared"], max(settings.BULK_STALE_SECONDS / 4, 0.25)
    stop = threading.Event()

    def beat() -> None:
        try:
            cache.set(heartbeat_key(batch_id), time.time(), timeout=settings.BULK_STALE_SECONDS)
        except Exception:  # the cache is down: the next beat tries again
            log.warning("bulk batch %s: heartbeat not recorded", batch_id, exc_info=True)

    def keep_beating() -> None:
        while not stop.wait(every):
            beat()

    beat()
    thread = threading.Thread(target=keep_beating, name=f"heartbeat-{batch_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        cache.delete(heartbeat_key(batch_id))


@task()
def apply_queued_batch(batch_id: str, allow_duplicate: bool = False) -> int:
    BulkBatch.objects.filter(pk=batch_id).update(
        status=BulkBatch.Status.APPLYING, attempts=F("attempts") + 1, applying_since=timezone.now()
    )
    batch = BulkBatch.objects.get(pk=batch_id)
    cache = caches["shared"]
    try:
        with heartbeat(batch_id):
            batch = apply_batch(
                batch=batch,
                allow_duplicate=allow_duplicate,
                progress=lambda done: cache.set(progress_key(batch_id), done, timeout=3600),
            )
    except LedgerError as exc:
        log.warning("bulk batch %s not applied: %s", batch_id, exc.message)
        return 0
    except Exception:
        BulkBatch.objects.filter(pk=batch_id).update(
            status=BulkBatch.Status.FAILED, failure="An unexpected error stopped the import."
        )
        raise
    finally:
        cache.delete(progress_key(batch_id))
    return batch.rows_applied


def recover_stale_batches(*, now: datetime | None = None) -> list[BulkBatch]:
    """Batches left "Applying" by a worker that stopped (killed, its machine lost): no
    heartbeat for BULK_STALE_SECONDS. Its transaction died with it, so no row was applied:
    requeue the batch, or after BULK_MAX_ATTEMPTS tries fail it with the reason, shown on the
    batch's page. Safe to run from cron beside the worker, and twice at once (each change is
    conditional on the state it saw). Returns the batches changed."""
    now = now or timezone.now()
    cache = caches["shared"]
    stale = BulkBatch.objects.filter(
        status=BulkBatch.Status.APPLYING,
        applying_since__lt=now - timedelta(seconds=settings.BULK_STALE_SECONDS),
    )
    changed = []
    for batch in stale:
        if cache.get(heartbeat_key(batch.pk)) is not None:
            continue  # its worker is alive, only slow
        seen = BulkBatch.objects.filter(
            pk=batch.pk, status=BulkBatch.Status.APPLYING, attempts=batch.attempts
        )
        stopped = f"The job worker stopped while applying this file (attempt {batch.attempts})"
        if batch.attempts >= settings.BULK_MAX_ATTEMPTS:
            outcome = "failed"
            updated = seen.update(
                status=BulkBatch.Status.FAILED,
                failure=f"{stopped}; it was tried {batch.attempts} times and nothing was applied. "
                "Split the file or apply it again.",
            )
        else:
            outcome = "requeued"
            with transaction.atomic():
                updated = seen.update(
                    status=BulkBatch.Status.QUEUED,
                    failure=f"{stopped}; nothing was applied, and it is queued again.",
                )
                if updated:
                    transaction.on_commit(
                        functools.partial(apply_queued_batch.enqueue, str(batch.pk))
                    )
        if updated:
            log.warning("bulk batch %s was stale: %s", batch.pk, outcome)
            metrics.BULK_BATCHES_RECOVERED.labels(outcome=outcome).inc()
            batch.refresh_from_db()
            changed.append(batch)
    return changed
