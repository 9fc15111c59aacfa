"""The adjust transaction in raw SQL, shared by the bare view and the pgbench script."""

LOCK = (
    "SELECT program_id, balance, lifetime_points, updated_at FROM accounts_loyaltyaccount "
    "WHERE id = %s FOR UPDATE"
)
INSERT_EVENT = (
    "INSERT INTO ledger_loyaltyevent (id, program_id, account_id, type, reason_text, points, "
    "affects_lifetime, balance_after, lifetime_after, history_title, note, "
    "visible_to_customer, source, api_client_id, location_id, created_at) VALUES "
    "(%s, %s, %s, 'ADJUST_POINTS', 'bench', %s, true, %s, %s, 'bench', '', true, "
    "'NATIVE_API', %s, '', %s)"
)
INSERT_LOT = (
    "INSERT INTO ledger_pointlot (account_id, event_id, points, remaining, expires_at, "
    "created_at) VALUES (%s, %s, %s, %s, %s + interval '12 months', %s)"
)
UPDATE = (
    "UPDATE accounts_loyaltyaccount SET balance = %s, lifetime_points = %s, updated_at = %s "
    "WHERE id = %s"
)
ADJUST_STATEMENTS = (LOCK, INSERT_EVENT, INSERT_LOT, UPDATE)

# pgbench: the same transaction, the balance computed by the database.
PGBENCH_SCRIPT = """\\set n random(1, :accounts)
BEGIN;
SELECT a.id FROM accounts_loyaltyaccount a JOIN bench_account b ON b.id = a.id
 WHERE b.n = :n FOR UPDATE OF a;
WITH acc AS (
  UPDATE accounts_loyaltyaccount a
     SET balance = balance + 1, lifetime_points = lifetime_points + 1,
         updated_at = greatest(now(), updated_at + interval '1 microsecond')
    FROM bench_account b WHERE b.n = :n AND a.id = b.id
  RETURNING a.id, a.program_id, a.balance, a.lifetime_points, a.updated_at
), ev AS (
  INSERT INTO ledger_loyaltyevent (id, program_id, account_id, type, reason_text, points,
    affects_lifetime, balance_after, lifetime_after, history_title, note, visible_to_customer,
    source, api_client_id, location_id, created_at)
  SELECT gen_random_uuid(), program_id, id, 'ADJUST_POINTS', 'pgbench', 1, true, balance,
    lifetime_points, 'pgbench', '', true, 'NATIVE_API', :'client', '', updated_at FROM acc
  RETURNING id, account_id, created_at
)
INSERT INTO ledger_pointlot (account_id, event_id, points, remaining, expires_at, created_at)
SELECT account_id, id, 1, 1, created_at + interval '12 months', created_at FROM ev;
END;
"""
