"""The ledger's own audit: where cached balances, the balance chain or lots disagree with the
events they derive from."""

import uuid
from dataclasses import dataclass

from django.db import connection
from django.db.models import QuerySet

from accounts.models import LoyaltyAccount


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
