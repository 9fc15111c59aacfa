"""The ledger's own audit: where cached balances, the balance chain or lots disagree with the
events they derive from."""

import functools
import uuid
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import QuerySet

from accounts.models import LoyaltyAccount
from ledger.models import (
    CONSUMPTION_REFERENCES,
    LotConsumption,
    LoyaltyEvent,
    PointLot,
    lot_event_mismatch_sql,
    missing_reference_sql,
    tally_period_sql,
)
from loyalty_admin.planner import join_methods_off


@dataclass(frozen=True)
class Discrepancy:
    account_id: str
    problem: str


# Accounts whose cached balance or points earned differ from their events' sums.
_SUM_MISMATCH = """
SELECT a.id, a.balance, a.lifetime_points,
       COALESCE(SUM(e.points), 0),
       COALESCE(SUM(CASE WHEN e.affects_lifetime THEN e.points ELSE 0 END + e.earned_moved), 0)
FROM accounts_loyaltyaccount a
LEFT JOIN ledger_loyaltyevent e ON e.account_id = a.id
{where}
GROUP BY a.id, a.balance, a.lifetime_points
HAVING a.balance <> COALESCE(SUM(e.points), 0)
    OR a.lifetime_points <> COALESCE(
        SUM(CASE WHEN e.affects_lifetime THEN e.points ELSE 0 END + e.earned_moved), 0)
"""

# Events whose balance_after / lifetime_after do not follow from the previous event's.
_BROKEN_CHAIN = """
SELECT account_id, id FROM (
    SELECT account_id, id, points, affects_lifetime, earned_moved, balance_after, lifetime_after,
           LAG(balance_after, 1, 0) OVER w AS prev_balance,
           LAG(lifetime_after, 1, 0) OVER w AS prev_lifetime
    FROM ledger_loyaltyevent
    {where}
    WINDOW w AS (PARTITION BY account_id ORDER BY created_at, id)
) chain
WHERE balance_after <> prev_balance + points
   OR lifetime_after <> prev_lifetime + CASE WHEN affects_lifetime THEN points ELSE 0 END
                        + earned_moved
"""


# Accounts whose open lots do not hold exactly their spendable points, max(balance, 0).
_LOTS_MISMATCH = """
SELECT a.id, a.balance, COALESCE(SUM(l.remaining), 0)
FROM accounts_loyaltyaccount a
LEFT JOIN ledger_pointlot l ON l.account_id = a.id AND l.is_open
{where}
GROUP BY a.id, a.balance
HAVING COALESCE(SUM(l.remaining), 0) <> CASE WHEN a.balance > 0 THEN a.balance ELSE 0 END
"""


def ledger_discrepancies(*, accounts: QuerySet[LoyaltyAccount] | None = None) -> list[Discrepancy]:
    """Every breach of invariant 1 (DESIGN.md), and lots out of step with balances:
    empty when the ledger is consistent."""
    where_a, where_e, params = "", "", []
    if accounts is not None:
        ids = [
            str(pk) if connection.vendor == "postgresql" else pk.hex
            for pk in accounts.values_list("pk", flat=True)
        ]
        if not ids:
            return []
        marks = ", ".join(["%s"] * len(ids))
        where_a, where_e, params = f"WHERE a.id IN ({marks})", f"WHERE account_id IN ({marks})", ids
    found: list[Discrepancy] = []
    with connection.cursor() as cursor:
        cursor.execute(_SUM_MISMATCH.format(where=where_a), params)
        for account_id, balance, lifetime, points, earned in cursor.fetchall():
            found.append(
                Discrepancy(
                    str(uuid.UUID(str(account_id))),
                    f"balance {balance} / points earned {lifetime}, "
                    f"events sum to {points} / {earned}",
                )
            )
        cursor.execute(_LOTS_MISMATCH.format(where=where_a), params)
        for account_id, balance, in_lots in cursor.fetchall():
            found.append(
                Discrepancy(
                    str(uuid.UUID(str(account_id))),
                    f"balance {balance} but {in_lots} points in unexpired lots",
                )
            )
        cursor.execute(_BROKEN_CHAIN.format(where=where_e), params)
        for account_id, event_id in cursor.fetchall():
            found.append(
                Discrepancy(
                    str(uuid.UUID(str(account_id))), f"event {event_id} breaks the balance chain"
                )
            )
    return found


# Keys whose tallies (EventTally) differ from the sums of their events: the events counted
# positive, the tallies negative, and what does not cancel out is a difference.
_TALLY_MISMATCH = """
SELECT program_id, period, reason_key, type, source, sum(n), sum(added), sum(removed)
FROM (
    SELECT program_id, {period} AS period, COALESCE(reason_id, 0) AS reason_key, type, source,
           count(*) AS n,
           sum(CASE WHEN points > 0 THEN 1 ELSE 0 END) AS added_count,
           sum(CASE WHEN points > 0 THEN points ELSE 0 END) AS added,
           sum(CASE WHEN points < 0 THEN 1 ELSE 0 END) AS removed_count,
           sum(CASE WHEN points < 0 THEN points ELSE 0 END) AS removed
    FROM ledger_loyaltyevent
    GROUP BY 1, 2, 3, 4, 5
    UNION ALL
    SELECT program_id, period, reason_key, type, source, -sum(count), -sum(added_count),
           -sum(added), -sum(removed_count), -sum(removed)
    FROM ledger_eventtally
    GROUP BY 1, 2, 3, 4, 5
) both_sides
GROUP BY 1, 2, 3, 4, 5
HAVING sum(n) <> 0 OR sum(added_count) <> 0 OR sum(added) <> 0
    OR sum(removed_count) <> 0 OR sum(removed) <> 0
ORDER BY 2, 1, 3, 4, 5
"""


def tally_discrepancies() -> list[str]:
    """Every quarter hour and key whose tallies, which the history explorer's totals read,
    differ from the sums of their events: empty when they agree. It reads every event."""
    sql = _TALLY_MISMATCH.format(period=tally_period_sql("created_at", connection.vendor))
    with connection.cursor() as cursor:
        cursor.execute(sql)  # no parameters: the SQLite form of the period has % signs
        return [
            f"tallies of {type_} events from {source} (reason {reason or 'none'}) in the quarter "
            f"hour from {period} differ from their events by {count:+} events, "
            f"{added:+} points added, {removed:+} removed"
            for _, period, reason, type_, source, count, added, removed in cursor.fetchall()
        ]


# The tables whose references a trigger checks once per statement on PostgreSQL: what their
# rows are called, and the query of a table of them for the references that are missing.
CHECKED_BY_STATEMENT = (
    (LoyaltyEvent, "events", functools.partial(missing_reference_sql, lock=False)),
    (PointLot, "lots", lot_event_mismatch_sql),
    (
        LotConsumption,
        "lot consumptions",
        functools.partial(missing_reference_sql, references=CONSUMPTION_REFERENCES, lock=False),
    ),
)


def reference_discrepancies() -> list[str]:
    """Every row that events, lots or consumptions name and that does not exist (an account,
    program, reason, operator, API client, batch, reward or event; a lot's event must be of
    the lot's account): empty when there is none. On PostgreSQL triggers check these as rows
    are written, not foreign keys (EVENT_REFERENCES), and a restore creates triggers after
    loading the rows, so nothing checked the restored ones; this reads every row of the
    three tables, and locks nothing. On SQLite foreign keys keep them."""
    if connection.vendor != "postgresql":
        return []
    found = []
    # Each check joins a table's distinct references to the rows they name. Merged in the
    # order of their indexes, that takes seconds over millions of rows; hashed in PostgreSQL's
    # default memory, the accounts' check took minutes (3M events, 1M accounts). For these
    # queries only.
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        join_methods_off(cursor, "hashjoin"),
    ):
        for model, rows, missing in CHECKED_BY_STATEMENT:
            cursor.execute(
                missing(connection.ops.quote_name(model._meta.db_table), first_only=False)
            )
            found += [
                f"{rows} name {field} {value}, which does not exist" for field, value in cursor
            ]
    return found
