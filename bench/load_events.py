"""Top the seeded ledger up for the benchmark: one hot account with HOT_EVENTS events and
enough extra events on other accounts for TOTAL_EVENTS in all.

The events are appended after each account's newest one, computed by the database from the
account's balance, with a lot per (positive) event as ledger.services would write them, and the
accounts' balances, points earned and updated_at moved on in the same transaction, so
ledger_discrepancies stays empty (checked for the hot account and a sample afterwards).
"""

from django.db import connection, transaction

from ledger.selectors import ledger_discrepancies

# Ordered ids (prefix, counter) append to the primary key's B-tree instead of splitting it.
_APPEND = """
WITH chosen AS (
    SELECT id, program_id, balance, lifetime_points, updated_at, %(per)s AS k
    FROM accounts_loyaltyaccount
    WHERE id = ANY(%(ids)s)
), made AS (
    SELECT (lpad(to_hex(%(prefix)s::bigint), 16, '0')
            || lpad(to_hex(row_number() OVER () + %(offset)s), 16, '0'))::uuid AS id,
           c.program_id, c.id AS account_id, %(points)s AS points,
           c.balance + %(points)s * g AS balance_after,
           c.lifetime_points + %(points)s * g AS lifetime_after,
           c.updated_at + g * interval '1 millisecond' AS created_at
    FROM chosen c CROSS JOIN LATERAL generate_series(1, c.k) AS g
), events AS (
    INSERT INTO ledger_loyaltyevent (id, program_id, account_id, type, reason_text, points,
        affects_lifetime, balance_after, lifetime_after, history_title, note,
        visible_to_customer, source, api_client_id, location_id, created_at)
    SELECT id, program_id, account_id, 'ADJUST_POINTS', 'Benchmark', points, true,
           balance_after, lifetime_after, 'Benchmark', '', true, 'NATIVE_API', %(client)s, '',
           created_at
    FROM made
    RETURNING id, account_id, points, created_at
), lots AS (
    INSERT INTO ledger_pointlot (account_id, event_id, points, remaining, expires_at, created_at)
    SELECT account_id, id, points, points, created_at + interval '12 months', created_at
    FROM events
)
UPDATE accounts_loyaltyaccount a
   SET balance = a.balance + %(points)s * c.k,
       lifetime_points = a.lifetime_points + %(points)s * c.k,
       updated_at = a.updated_at + c.k * interval '1 millisecond'
  FROM chosen c WHERE a.id = c.id
"""


def append_events(*, account_ids: list, per_account: int, client_id: str, prefix: int) -> int:
    """Append `per_account` events of +10 points to each account; returns how many."""
    made = 0
    step = max(1, 200_000 // per_account)
    for start in range(0, len(account_ids), step):
        ids = account_ids[start : start + step]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute(
                _APPEND,
                {
                    "ids": ids,
                    "per": per_account,
                    "points": 10,
                    "client": client_id,
                    "prefix": prefix,
                    "offset": made,
                },
            )
        made += len(ids) * per_account
    return made


def top_up(*, program, hot_account, client_id: str, hot_events: int, total_events: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ledger_loyaltyevent")
        existing = cursor.fetchone()[0]
    prefix = 0x0BE1C4 << 40
    hot = append_events(
        account_ids=[hot_account.pk], per_account=hot_events, client_id=client_id, prefix=prefix
    )
    missing = max(0, total_events - existing - hot)
    per = 3
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM accounts_loyaltyaccount WHERE program_id = %s AND id <> %s "
            "AND merged_into_id IS NULL ORDER BY customer_id LIMIT %s",
            [program.pk, hot_account.pk, -(-missing // per)],
        )
        ids = [row[0] for row in cursor.fetchall()]
    spread = append_events(account_ids=ids, per_account=per, client_id=client_id, prefix=prefix + 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "existing": existing,
        "hot": hot,
        "spread": spread,
        "touched_sample": ids[:: max(1, len(ids) // 500)],
    }


def check_touched(account_ids: list) -> list:
    from accounts.models import LoyaltyAccount

    return ledger_discrepancies(accounts=LoyaltyAccount.objects.filter(pk__in=account_ids))
