"""The tallies of events (EventTally) that the history explorer's totals and chart read: kept
by the database in the statement that writes the events, on both engines."""

import threading
import zoneinfo
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ledger import services
from ledger.models import EventTally, LoyaltyEvent
from ledger.selectors import EventQuery, history_summary, tally_discrepancies
from ledger.services import Actor, compact_tallies

from ..conftest import postgres_only
from ..factories import AccountFactory
from ..review.conftest import event_row

pytestmark = pytest.mark.django_db

Source = LoyaltyEvent.Source
# Around midnight in New York and in Kathmandu (+05:45), and on quarter hours' edges.
TIMES = [
    datetime(2026, 11, 2, 4, 59, 59, tzinfo=UTC),
    datetime(2026, 11, 2, 5, 0, tzinfo=UTC),
    datetime(2026, 11, 2, 18, 14, 59, 999999, tzinfo=UTC),
    datetime(2026, 11, 2, 18, 15, tzinfo=UTC),
    datetime(2026, 11, 3, 12, 0, tzinfo=UTC),
    datetime(2026, 11, 9, 23, 50, tzinfo=UTC),
]


@pytest.fixture
def history(program, reasons, agent):
    """Events at the times above, several to a statement, of both signs, with and without a
    reason, from three sources."""
    ann = AccountFactory(program=program)
    bob = AccountFactory(program=program)
    rows = []
    for i, at in enumerate(TIMES):
        rows += [
            event_row(
                ann, 100 + i, at, reason=reasons["REWARD"], source=Source.ADMIN_UI, actor=agent
            ),
            event_row(
                bob, -(30 + i), at, reason=reasons["REDEEM_DISCOUNT"], source=Source.BULK_IMPORT
            ),
            event_row(bob, 3, at, reason=reasons["REWARD"], source=Source.ADMIN_UI, actor=agent),
            event_row(ann, 7, at, type=LoyaltyEvent.Type.ACCUMULATE_POINTS),
        ]
    LoyaltyEvent.objects.bulk_create(rows[:10])  # one statement of ten events
    for row in rows[10:]:
        row.save()
    return {"ann": ann, "bob": bob}


def test_the_tallies_are_the_sums_of_the_events_written(history, program, reasons, manager):
    services.adjust_points(
        account=history["ann"],
        points=40,
        reason=reasons["REWARD"],
        actor=Actor.of_operator(manager),
    )
    text = "customer_id,points,reason\n" + "".join(
        f"{AccountFactory(program=program, customer_id=f'B-{i}').customer_id},{5 + i},REWARD\n"
        for i in range(3)
    )
    batch, check = services.upload_bulk_file(
        program=program, actor=Actor.of_operator(manager), filename="t.csv", data=text.encode()
    )
    assert check.errors == []
    services.apply_batch(batch=batch)

    assert tally_discrepancies() == []
    assert sum(EventTally.objects.values_list("count", flat=True)) == LoyaltyEvent.objects.count()
    assert set(EventTally.objects.values_list("period", flat=True)) >= {
        datetime(2026, 11, 2, 4, 45, tzinfo=UTC),
        datetime(2026, 11, 2, 5, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 18, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 18, 15, tzinfo=UTC),
    }


def test_a_tally_that_differs_from_its_events_is_named(history, capsys):
    tally = EventTally.objects.filter(type=LoyaltyEvent.Type.ACCUMULATE_POINTS).first()
    tally.added += 3
    tally.save()

    found = tally_discrepancies()

    assert len(found) == 1
    assert "ACCUMULATE_POINTS events from SYSTEM" in found[0]
    assert "+0 events, -3 points added" in found[0]
    # (These events were written with no balance chain; check_ledger lists that too.)
    with pytest.raises(CommandError, match="discrepancies in the ledger"):
        call_command("check_ledger")
    assert found[0] in capsys.readouterr().out.splitlines()


QUERIES = [
    {},
    {"created_from": datetime(2026, 11, 2, 5, tzinfo=UTC)},
    {
        "created_from": datetime(2026, 11, 2, 18, 15, tzinfo=UTC),
        "created_before": datetime(2026, 11, 9, 23, 45, tzinfo=UTC),
    },
    {"reason": "REWARD"},
    {"source": Source.BULK_IMPORT},
    {"sign": "added"},
    {"sign": "removed", "source": Source.BULK_IMPORT},
]


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kathmandu"])
@pytest.mark.parametrize("filters", QUERIES)
def test_the_summary_from_the_tallies_is_the_summary_of_the_events(
    history, program, reasons, zone, filters
):
    if "reason" in filters:
        filters = {**filters, "reason": reasons[filters["reason"]]}
    query = EventQuery(program=program, **filters)
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        with CaptureQueriesContext(connection) as reads:
            summary = history_summary(query=query)
        # A filter the tallies do not keep, which every event matches: read from the events.
        from_events = history_summary(query=replace(query, amount_min=0))

    assert summary == from_events
    assert summary.totals.count > 0
    assert not [q for q in reads if "ledger_loyaltyevent" in q["sql"]]
    assert [q for q in reads if "ledger_eventtally" in q["sql"]]


@pytest.mark.parametrize(
    "filters",
    [
        {"customer": "x"},
        {"operator_id": 1},
        {"amount_max": 50},
        {"created_from": datetime(2026, 11, 2, 5, 10, tzinfo=UTC)},  # not a quarter hour
        {"types": ("ADJUST_POINTS",)},
    ],
)
def test_a_filter_the_tallies_do_not_keep_reads_the_events(history, program, filters):
    with CaptureQueriesContext(connection) as reads:
        history_summary(query=EventQuery(program=program, **filters))

    assert not [q for q in reads if "ledger_eventtally" in q["sql"]]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_rows_of_their_own_that_compaction_merges(program, reasons):
    ann, bob = AccountFactory(program=program), AccountFactory(program=program)
    at = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    reward = reasons["REWARD"]
    written, failed = threading.Event(), []

    def write_on_another_connection():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '2s'")  # never waits on the other writer
            event_row(bob, 5, at, reason=reward).save()
            written.set()
        except Exception as error:  # the assertion below shows it
            failed.append(error)
        finally:
            connections.close_all()

    with transaction.atomic():
        event_row(ann, 10, at, reason=reward).save()  # the tally row stays locked until commit
        other = threading.Thread(target=write_on_another_connection)
        other.start()
        other.join()
    assert failed == [] and written.is_set()

    rows = EventTally.objects.filter(reason_key=reward.pk)
    assert sorted(rows.values_list("count", "added")) == [(1, 5), (1, 10)]
    assert len({r.writer for r in rows}) == 2 and 0 not in {r.writer for r in rows}
    before = history_summary(query=EventQuery(program=program))

    merged, kept = compact_tallies()

    assert (merged, kept) == (2, 1)
    assert list(rows.values_list("writer", "count", "added")) == [(0, 2, 15)]
    assert history_summary(query=EventQuery(program=program)) == before
    assert tally_discrepancies() == []
    # The quarter hour under way stays as its writers left it.
    event_row(ann, 1, timezone.now(), reason=reward).save()
    assert compact_tallies() == (0, 0)
    assert rows.filter(writer=0).count() == 1
