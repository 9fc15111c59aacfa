"""Merging the tallies of events (EventTally) that concurrent writers kept apart.

On PostgreSQL every backend adds its statements' events to tally rows of its own (`writer`:
its process id), so that no two writers wait on one row. Connections come and go, so a key
gathers a row per backend that wrote it; `compact_tallies` merges the rows of the quarter
hours that have ended into one row per key. SQLite keeps one row per key from the start.
"""

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from ledger.models import TALLY_ADD, TALLY_COUNTS, TALLY_KEY

MERGE = f"""
WITH merged AS (
    DELETE FROM ledger_eventtally WHERE writer <> 0 AND period < %s
    RETURNING {TALLY_KEY}, {", ".join(TALLY_COUNTS)}
), kept AS (
    INSERT INTO ledger_eventtally ({TALLY_KEY}, writer, {", ".join(TALLY_COUNTS)})
    SELECT {TALLY_KEY}, 0, {", ".join(f"sum({c})" for c in TALLY_COUNTS)}
    FROM merged
    GROUP BY {TALLY_KEY}
    ORDER BY {TALLY_KEY}
    ON CONFLICT ({TALLY_KEY}, writer) DO UPDATE SET {TALLY_ADD}
    RETURNING 1
)
SELECT (SELECT count(*) FROM merged), (SELECT count(*) FROM kept)
"""


def compact_tallies(*, before: datetime | None = None) -> tuple[int, int]:
    """Merge each key's rows of the quarter hours before `before` (default: the start of the
    last quarter hour that has ended) into one, in one statement, so that every reader sees
    the same sums before and after. Returns (rows merged, rows they became). Safe to run at
    any time, even twice at once: a writer still adding to a row being merged waits for it,
    or it for the writer, and each sum is counted once."""
    if connection.vendor != "postgresql":
        return 0, 0
    if before is None:
        now = timezone.now()
        before = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0)
        before -= timedelta(minutes=15)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(MERGE, [before])
        merged, kept = cursor.fetchone()
    return merged, kept
