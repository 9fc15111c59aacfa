"""Writing a checked bulk file: set-based SQL instead of row-by-row posting.

The result is exactly what `posting.append` would leave row by row (the same events,
balance_after chain, lots and consumptions, the same event times rule), but computed in memory
per chunk of rows and written with a few multi-row statements (COPY on PostgreSQL) instead of
four or five single-row statements per row.
"""

import bisect
import enum
from collections.abc import Callable
from dataclasses import dataclass

import isodate
from django.db import connection
from django.db.models import F

from accounts.models import LoyaltyAccount

from ..models import BulkBatch, LotConsumption, LoyaltyEvent, PointLot, Reason
from .actors import Actor
from .posting import advance, event_time
from .webhooks import notify_events


@dataclass
class BulkLine:
    """One checked row of a bulk file, ready to write."""

    line: int
    account: LoyaltyAccount
    points: int
    reason: Reason
    history_title: str
    note: str
    visible_to_customer: bool


BULK_WRITE_ROWS = 1_000


@dataclass
class _OpenLot:
    """A lot with points left, as `lots.open_lots` would return it, kept in memory."""

    lot: PointLot
    order: tuple
    persisted_remaining: int | None = None  # what the database holds; None: not inserted yet


def _lot_order(lot: PointLot, sequence: tuple) -> tuple:
    # `lots.open_lots` order: soonest expiry first, never-expiring last, then oldest, then id
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


def write_lines(
    lines: list[BulkLine],
    *,
    batch: BulkBatch,
    actor: Actor,
    progress: Callable[[int], None] | None,
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
    accounts_by_pk = {a.pk: a for a in accounts}
    for start in range(0, len(lines), BULK_WRITE_ROWS):
        events, lots, consumptions, opened_here = [], [], [], []
        for line in lines[start : start + BULK_WRITE_ROWS]:
            account, points = line.account, line.points
            affects_lifetime = line.reason.affects_lifetime
            now = event_time(account)
            balance_before = advance(
                account, points=points, affects_lifetime=affects_lifetime, now=now
            )
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
                batch=batch,
                **actor.event_fields,
            )
            events.append(event)
            if points > 0:
                # As `lots.update_lots`: only the part above zero is spendable.
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
            # As `lots.update_lots`: take from the first open lots; the emptied ones drop out.
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
        notify_events(events, accounts_by_pk)
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
