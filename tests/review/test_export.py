import csv
import io
import tracemalloc
from datetime import UTC

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ledger.console.export import csv_lines
from ledger.selectors import EXPORT_COLUMNS, EventQuery, export_rows, matching_events

from .conftest import make_event

pytestmark = pytest.mark.django_db


def _export(client, query: str = "date_from="):
    response = client.get(reverse("history-export") + "?" + query)
    assert response.status_code == 200
    return response


def _rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_it_exports_exactly_the_filtered_events(manager_client, program, account, reasons, manager):
    kept = [
        make_event(account, 10, days_ago=2, reason=reasons["REWARD"], actor=manager),
        make_event(account, 20, days_ago=1, reason=reasons["REWARD"], actor=manager),
    ]
    make_event(account, -5, days_ago=1, reason=reasons["REDEEM_DISCOUNT"], actor=manager)

    response = _export(manager_client, f"date_from=&reason={reasons['REWARD'].pk}")

    rows = _rows(response)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment;" in response["Content-Disposition"]
    assert rows[0] == list(EXPORT_COLUMNS)
    assert [r[0] for r in rows[1:]] == [str(kept[1].pk), str(kept[0].pk)]
    expected = matching_events(
        query=EventQuery(program=program, reason=reasons["REWARD"])
    ).order_by("-created_at", "-id")
    assert [r[0] for r in rows[1:]] == [str(pk) for pk in expected.values_list("pk", flat=True)]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["points"] == "20"
    assert first["reason_code"] == "REWARD"
    assert first["operator"] == manager.email
    assert first["email"] == account.email
    assert first["created_at"] == kept[1].created_at.astimezone(UTC).isoformat()
    assert first["created_at"].endswith("+00:00")


def test_it_quotes_commas_quotes_and_newlines(manager_client, account):
    title = 'Refund, "goodwill"\nsecond line'
    make_event(account, 5, history_title=title, note="a,b")

    rows = _rows(_export(manager_client))

    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["history_title"] == title
    assert record["note"] == "a,b"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_it_defuses_formulas_but_keeps_points_numeric(manager_client, account, start):
    make_event(account, -30, history_title=f'{start}HYPERLINK("http://x")', note=f"{start}1+1")

    rows = _rows(_export(manager_client))

    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["history_title"] == f'\'{start}HYPERLINK("http://x")'
    assert record["note"] == f"'{start}1+1"
    assert record["points"] == "-30"
    assert record["balance_after"] == "0"


def test_it_streams_from_a_lazy_iterator(manager_client, program, account):
    for n in range(5):
        make_event(account, n + 1)

    response = _export(manager_client)

    assert isinstance(response, StreamingHttpResponse)
    lines = iter(response.streaming_content)
    with CaptureQueriesContext(connection) as queries:
        header = next(lines)
    assert header.decode().startswith("event_id,created_at,")
    assert len(queries) == 0  # nothing is read before the first row is asked for

    rows = export_rows(query=EventQuery(program=program), chunk_size=2)
    with CaptureQueriesContext(connection) as queries:
        next(rows)
    assert len(queries) == 1
    assert "LIMIT 2" in queries[0]["sql"]
    with CaptureQueriesContext(connection) as queries:
        rest = list(rows)
    assert len(rest) == 4
    assert len(queries) == 2  # two more keyset chunks, never OFFSET
    assert all("OFFSET" not in q["sql"] for q in queries)


# 100,000 events written by the database itself: building as many model instances for
# bulk_create takes longer than the whole rest of this test.
_FILL = {
    "sqlite": """
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %s - 1)
        INSERT INTO ledger_loyaltyevent (id, program_id, account_id, type, reason_text, points,
            affects_lifetime, balance_after, lifetime_after, history_title, note,
            visible_to_customer, source, location_id, created_at)
        SELECT lower(hex(randomblob(16))), %s, %s, 'ADJUST_POINTS', '', i %% 97 + 1, 1, i, i,
            'Bulk, "' || i || '"', '', 1, 'SYSTEM', '',
            strftime('%%Y-%%m-%%d %%H:%%M:%%S', 'now', '-' || i || ' seconds')
        FROM n
    """,
    "postgresql": """
        INSERT INTO ledger_loyaltyevent (id, program_id, account_id, type, reason_text, points,
            affects_lifetime, balance_after, lifetime_after, history_title, note,
            visible_to_customer, source, location_id, created_at)
        SELECT gen_random_uuid(), %s, %s, 'ADJUST_POINTS', '', i %% 97 + 1, true, i, i,
            'Bulk, "' || i || '"', '', true, 'SYSTEM', '', now() - make_interval(secs => i)
        FROM generate_series(0, %s - 1) AS i
    """,
}


def test_it_exports_100k_events_in_flat_memory(manager_client, program, account):
    total = 100_000
    ids = [program.pk.hex, account.pk.hex]
    if connection.vendor == "postgresql":
        params = [str(program.pk), str(account.pk), total]
    else:
        params = [total, *ids]
    with connection.cursor() as cursor:
        cursor.execute(_FILL[connection.vendor], params)
        # Fresh statistics, as a live table has: without them PostgreSQL may sort the whole
        # table for every chunk instead of walking the (created_at, id) index.
        cursor.execute("ANALYZE ledger_loyaltyevent")
    response = _export(manager_client)

    lines = 0
    tracemalloc.start()
    try:
        for _ in response.streaming_content:
            lines += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert lines == total + 1
    # The rows alone would take a hundred MB or more; a keyset chunk at a time stays a few MB.
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_csv_lines_formats_one_row_at_a_time():
    lines = csv_lines(["a", "b"], iter([("=x", -1), (None, True)]))

    assert list(lines) == ["a,b\r\n", "'=x,-1\r\n", ",true\r\n"]


def test_it_answers_bad_filters_with_400(manager_client, account):
    response = manager_client.get(reverse("history-export") + "?amount_min=-4")

    assert response.status_code == 400
    assert "amount_min" in response.text
