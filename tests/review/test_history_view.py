import html
import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ledger.models import LoyaltyEvent
from ledger.selectors import EventQuery, event_page
from tests.factories import AccountFactory, api_client

from .conftest import HX, make_event, noon

pytestmark = pytest.mark.django_db

Source = LoyaltyEvent.Source


@pytest.fixture
def ledger(program, reasons, agent, manager):
    """Six events with known sums; the oldest is outside the default 30 days."""
    ann = AccountFactory(program=program, email="ann@example.com", phone="+15550100001")
    bob = AccountFactory(program=program, customer_id="BOB-1", phone="+15550100002")
    client, _ = api_client("Yotpo shop")
    return {
        "ann": ann,
        "bob": bob,
        "client": client,
        "old": make_event(
            ann, 1000, days_ago=40, reason=reasons["REWARD"], source=Source.ADMIN_UI, actor=agent
        ),
        "reward": make_event(
            ann, 100, days_ago=2, reason=reasons["REWARD"], source=Source.ADMIN_UI, actor=agent
        ),
        "redeem": make_event(
            ann,
            -30,
            days_ago=1,
            reason=reasons["REDEEM_DISCOUNT"],
            source=Source.ADMIN_UI,
            actor=manager,
        ),
        "yotpo": make_event(
            bob,
            500,
            days_ago=1,
            reason=reasons["REWARD"],
            source=Source.YOTPO_API,
            api_client=client,
        ),
        "bulk": make_event(
            bob,
            -200,
            days_ago=0,
            reason=reasons["REMOVE_EARNED"],
            source=Source.BULK_IMPORT,
            actor=manager,
        ),
        "square": make_event(
            ann,
            7,
            days_ago=0,
            type=LoyaltyEvent.Type.ACCUMULATE_POINTS,
            source=Source.SQUARE_API,
            api_client=client,
        ),
    }


def _get(client, query: str = "", **headers):
    return client.get(reverse("history") + ("?" + query if query else ""), **headers)


def _summary_url(response) -> str:
    """The URL the page asks for its totals and chart once it shows."""
    return html.unescape(re.search(r'id="history-summary" hx-get="([^"]+)"', response.text)[1])


def _summary(response):
    """What the page asks for once it shows: the totals and chart of its own filters."""
    summary = response.client.get(_summary_url(response), **HX)
    assert summary.status_code == 200
    return summary


def _totals(response) -> tuple:
    totals = _summary(response).context_data["summary"].totals
    return totals.count, totals.added, totals.removed, totals.net


def _ids(response) -> list:
    return [e.pk for e in response.context["page"].items]


def test_it_shows_the_last_30_days_by_default_with_totals(manager_client, ledger):
    response = _get(manager_client)

    assert response.status_code == 200
    assert _totals(response) == (5, 607, -230, 377)
    assert set(_ids(response)) == {
        ledger[k].pk for k in ("square", "bulk", "yotpo", "redeem", "reward")
    }
    summary = _summary(response).text
    assert 'data-total="net">+377<' in summary
    assert 'data-total="removed">−230<' in summary


def test_the_page_shows_before_anything_is_counted(manager_client, ledger):
    with CaptureQueriesContext(connection) as page_queries:
        response = _get(manager_client)

    # The page reads its rows of events only; it asks for their totals and chart once it shows.
    aggregates = [
        q["sql"]
        for q in page_queries
        if '"ledger_loyaltyevent"' in q["sql"] and ("COUNT(" in q["sql"] or "SUM(" in q["sql"])
    ]
    assert aggregates == []
    assert "Counting the matching events…" in response.text
    assert 'data-total="count"' not in response.text
    assert response.text.count('id="history-summary"') == 1
    assert "date_from=" in _summary_url(response)


def test_the_summary_reads_the_tallies_once_and_no_event(manager_client, ledger):
    response = _get(manager_client)
    with CaptureQueriesContext(connection) as summary_queries:
        summary = _summary(response)

    # The totals and the chart come from one aggregate over the tallies of the days shown.
    assert not [q for q in summary_queries if '"ledger_loyaltyevent"' in q["sql"]]
    reads = [q["sql"] for q in summary_queries if '"ledger_eventtally"' in q["sql"]]
    assert len(reads) == 1
    assert "GROUP BY" in reads[0]
    chart = summary.context_data["summary"].chart
    assert sum(sum(dataset["data"]) for dataset in chart["datasets"]) == 377


def test_a_summary_by_customer_reads_the_matching_events_once(manager_client, ledger):
    response = _get(manager_client, "customer=ann%40example.com")
    with CaptureQueriesContext(connection) as summary_queries:
        summary = _summary(response)

    # The tallies keep no customer: one aggregate over the matching events.
    assert not [q for q in summary_queries if '"ledger_eventtally"' in q["sql"]]
    reads = [q["sql"] for q in summary_queries if '"ledger_loyaltyevent"' in q["sql"]]
    assert len(reads) == 1
    assert "GROUP BY" in reads[0]
    assert summary.context_data["summary"].totals.net == 100 - 30 + 7


def test_the_summary_names_a_wrong_filter(manager_client, ledger):
    response = manager_client.get(
        reverse("history-summary") + "?date_from=2025-02-01&date_to=2025-01-01", **HX
    )

    assert response.status_code == 422
    assert "The end date is before the start date." in response.text
    assert 'data-total="count"' not in response.text


def test_only_managers_see_the_summary(agent_client, ledger):
    response = agent_client.get(reverse("history-summary"), **HX)

    assert response.status_code == 403
    assert 'data-total="count"' not in response.content.decode()


def test_it_shows_everything_when_the_dates_are_cleared(manager_client, ledger):
    response = _get(manager_client, "date_from=&date_to=")

    assert _totals(response) == (6, 1607, -230, 1377)


@pytest.mark.parametrize(
    ("query", "expected", "totals"),
    [
        ("reason={REWARD}", ["yotpo", "reward"], (2, 600, 0, 600)),
        ("source=YOTPO_API", ["yotpo"], (1, 500, 0, 500)),
        ("source=LOYALTY_API", ["square"], (1, 7, 0, 7)),
        ("by=operator:{agent}", ["reward"], (1, 100, 0, 100)),
        ("by=client:{client}", ["square", "yotpo"], (2, 507, 0, 507)),
        ("customer=ANN@example.com", ["square", "redeem", "reward"], (3, 107, -30, 77)),
        ("customer=BOB-1", ["bulk", "yotpo"], (2, 500, -200, 300)),
        ("customer=(555) 010-0002", ["bulk", "yotpo"], (2, 500, -200, 300)),
        ("customer={bob_id}", ["bulk", "yotpo"], (2, 500, -200, 300)),
        ("sign=removed", ["bulk", "redeem"], (2, 0, -230, -230)),
        ("sign=added&amount_min=100", ["yotpo", "reward"], (2, 600, 0, 600)),
        ("amount_max=100", ["square", "redeem", "reward"], (3, 107, -30, 77)),
        ("amount_min=30&amount_max=200", ["bulk", "redeem", "reward"], (3, 100, -230, -130)),
        ("date_from={day1}&date_to={day1}", ["yotpo", "redeem"], (2, 500, -30, 470)),
        ("customer=nobody@example.com", [], (0, 0, 0, 0)),
    ],
)
def test_it_filters_and_totals_the_filtered_set(
    manager_client, ledger, reasons, agent, query, expected, totals
):
    query = query.format(
        REWARD=reasons["REWARD"].pk,
        agent=agent.pk,
        client=ledger["client"].prefix,
        bob_id=ledger["bob"].pk,
        day1=noon(1).date().isoformat(),
    )

    response = _get(manager_client, query)

    assert response.status_code == 200
    assert set(_ids(response)) == {ledger[k].pk for k in expected}
    assert _totals(response) == totals


def test_it_orders_newest_first(manager_client, ledger):
    response = _get(manager_client, "source=ADMIN_UI&date_from=")

    assert _ids(response) == [ledger["redeem"].pk, ledger["reward"].pk, ledger["old"].pk]


def test_it_charts_points_per_day_by_reason(manager_client, ledger):
    response = _get(manager_client)

    summary = _summary(response)
    chart = summary.context_data["summary"].chart
    days = [noon(n).date().isoformat() for n in (2, 1, 0)]
    assert chart["labels"] == days
    assert {d["label"]: d["data"] for d in chart["datasets"]} == {
        "Accumulate Points": [0, 0, 7],
        "Redeem points for a discount": [0, -30, 0],
        "Remove earned points": [0, 0, -200],
        "Reward customer": [100, 500, 0],
    }
    # The data rides on the canvas: htmx keeps no <script> of what a filter swaps in.
    canvas = re.search(r'<canvas data-chart="([^"]*)"', summary.text)
    assert json.loads(html.unescape(canvas.group(1))) == chart
    assert "<script id=" not in summary.text


def test_it_refuses_inverted_ranges_next_to_the_filters(manager_client, ledger):
    response = _get(manager_client, "date_from=2025-02-01&date_to=2025-01-01", **HX)

    assert response.status_code == 422
    assert "The end date is before the start date." in response.text


def test_it_rerenders_the_filter_form_from_the_query_string(manager_client, ledger, reasons):
    reward = reasons["REWARD"].pk
    response = _get(manager_client, f"reason={reward}&sign=added&customer=ann%40example.com")

    assert "<html" in response.text
    assert f'<option value="{reward}" selected>' in response.text
    assert '<option value="added" selected>' in response.text
    assert 'value="ann@example.com"' in response.text
    assert 'hx-push-url="true"' in response.text
    # The export link carries the same filters.
    assert "/history/export.csv?date_from=" in response.text
    assert f"reason={reward}" in response.text


def test_it_returns_only_the_results_to_htmx(manager_client, ledger):
    response = _get(manager_client, "sign=added", **HX)

    assert response.text.strip().startswith('<section id="history-results"')
    assert "<html" not in response.text


def test_it_returns_the_whole_page_when_htmx_restores_history(manager_client, ledger):
    response = _get(manager_client, "sign=added", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HX)

    assert "<html" in response.text


def test_it_pages_without_gaps_or_duplicates(program, account, manager):
    # Twelve events share one timestamp: the id breaks the tie.
    same = noon(3)
    made = [make_event(account, n + 1, at=same) for n in range(12)]
    made += [make_event(account, 100 + n, days_ago=n % 3) for n in range(9)]

    seen, cursor = [], None
    while True:
        page = event_page(query=EventQuery(program=program), cursor=cursor, limit=5)
        seen += [e.pk for e in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break

    assert len(seen) == len(set(seen)) == 21
    assert set(seen) == {e.pk for e in made}


def test_it_links_to_the_next_page_with_the_filters(manager_client, program, account):
    for n in range(55):
        make_event(account, n + 1, days_ago=n % 5)

    first = _get(manager_client, "sign=added")
    cursor = first.context["page"].next_cursor
    second = _get(manager_client, f"sign=added&cursor={cursor}")
    fragment = _get(manager_client, f"sign=added&cursor={cursor}", **HX)

    assert len(_ids(first)) == 50
    assert "Older events" in first.text and f"cursor={cursor}" in first.text
    assert len(_ids(second)) == 5
    assert fragment.text.count('<tr id="event-') == 5
    assert not set(_ids(first)) & set(_ids(second))
    assert _totals(second) == _totals(first) == (55, sum(range(1, 56)), 0, sum(range(1, 56)))


def test_paging_replaces_the_events_and_keeps_the_totals(manager_client, program, account):
    for n in range(55):
        make_event(account, n + 1, days_ago=n % 5)
    first = _get(manager_client, "sign=added")
    older = re.search(r'hx-get="([^"]+)"\s+hx-target="#history-events"', first.text)

    second = manager_client.get(html.unescape(older[1]), HTTP_HX_TARGET="history-events", **HX)

    assert second.status_code == 200
    assert second.text.strip().startswith('<section id="history-events"')
    assert second.text.count('<tr id="event-') == 5
    # The totals and chart are the same on every page: not asked for again.
    assert 'id="history-summary"' not in second.text
    assert "Newest events" in second.text


def test_it_refuses_a_forged_cursor(manager_client, ledger):
    assert _get(manager_client, "cursor=bm90LWEtY3Vyc29y").status_code == 400
