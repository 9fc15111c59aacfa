"""`EventQuery`: each field narrows as documented, and every face that lists events reads the
same events for the same criteria."""

import json
from datetime import datetime, time

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from ledger.models import LoyaltyEvent, Reason
from ledger.selectors import EventQuery, Shown, event_page, matching_events
from ledger.selectors.events import EVENT_PREFETCHES
from ledger.services import create_program
from tests.factories import AccountFactory, api_client
from tests.review.conftest import make_event, noon

pytestmark = pytest.mark.django_db

Source, Type = LoyaltyEvent.Source, LoyaltyEvent.Type


def start_of(days_ago: int) -> datetime:
    """Midnight starting the day `days_ago` days before today, in the current time zone."""
    return timezone.make_aware(datetime.combine(noon(days_ago).date(), time.min))


@pytest.fixture
def ledger(program, reasons, agent, manager):
    """Six events in the default program and one in another, whose customer shares Ann's
    email and whose reason shares REWARD's code."""
    ann = AccountFactory(program=program, email="ann@example.com", phone="+15550100001")
    bob = AccountFactory(program=program, customer_id="BOB-1", phone="+15550100002")
    other = create_program(name="Other shop", alias="other")
    carol = AccountFactory(program=other, email="ann@example.com")
    client, key = api_client("Shop", "read,write", rate=1000)
    return {
        "program": program,
        "other": other,
        "ann": ann,
        "bob": bob,
        "carol": carol,
        "client": client,
        "key": key,
        "reward": make_event(
            ann,
            100,
            days_ago=3,
            reason=reasons["REWARD"],
            source=Source.ADMIN_UI,
            actor=agent,
            location_id="LOC-1",
        ),
        "redeem": make_event(
            ann,
            -30,
            days_ago=2,
            reason=reasons["REDEEM_DISCOUNT"],
            source=Source.ADMIN_UI,
            actor=manager,
        ),
        "square": make_event(
            ann,
            7,
            days_ago=1,
            type=Type.ACCUMULATE_POINTS,
            source=Source.SQUARE_API,
            api_client=client,
            location_id="LOC-2",
            order_id="ORDER-1",
        ),
        "yotpo": make_event(
            bob,
            500,
            days_ago=2,
            reason=reasons["REWARD"],
            source=Source.YOTPO_API,
            api_client=client,
        ),
        "expired": make_event(bob, -10, days_ago=1, type=Type.EXPIRE_POINTS),
        "bulk": make_event(
            bob,
            -200,
            days_ago=0,
            reason=reasons["REMOVE_EARNED"],
            source=Source.BULK_IMPORT,
            actor=manager,
        ),
        "elsewhere": make_event(
            carol,
            50,
            days_ago=2,
            reason=Reason.objects.get(program=other, code="REWARD"),
            source=Source.ADMIN_UI,
            actor=manager,
        ),
    }


MAIN = {"reward", "redeem", "square", "yotpo", "expired", "bulk"}
EVERY = MAIN | {"elsewhere"}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (lambda d: {}, EVERY),
        (lambda d: {"program": d["program"]}, MAIN),
        (lambda d: {"program": d["other"]}, {"elsewhere"}),
        (lambda d: {"account_id": d["ann"].pk}, {"reward", "redeem", "square"}),
        (lambda d: {"types": (Type.ACCUMULATE_POINTS, Type.EXPIRE_POINTS)}, {"square", "expired"}),
        (lambda d: {"types": ()}, set()),
        (lambda d: {"source": Source.YOTPO_API}, {"yotpo"}),
        (lambda d: {"reason": d["reward"].reason}, {"reward", "yotpo"}),
        (lambda d: {"reason_code": "REWARD"}, {"reward", "yotpo", "elsewhere"}),
        (lambda d: {"reason_code": " reward "}, {"reward", "yotpo", "elsewhere"}),
        (lambda d: {"created_from": start_of(1)}, {"square", "expired", "bulk"}),
        (lambda d: {"created_from": d["square"].created_at}, {"square", "expired", "bulk"}),
        (lambda d: {"created_before": start_of(2)}, {"reward"}),
        (lambda d: {"created_before": d["redeem"].created_at}, {"reward"}),
        (
            lambda d: {"created_until": d["redeem"].created_at},
            {"reward", "redeem", "yotpo", "elsewhere"},
        ),
        (lambda d: {"operator_id": d["reward"].actor_id}, {"reward"}),
        (lambda d: {"api_client_prefix": d["client"].prefix}, {"square", "yotpo"}),
        (lambda d: {"customer": " ANN@example.com "}, {"reward", "redeem", "square", "elsewhere"}),
        (
            lambda d: {"program": d["program"], "customer": "ann@example.com"},
            {"reward", "redeem", "square"},
        ),
        (lambda d: {"customer": "BOB-1"}, {"yotpo", "expired", "bulk"}),
        (lambda d: {"customer": "(555) 010-0002"}, {"yotpo", "expired", "bulk"}),
        (lambda d: {"customer": str(d["carol"].pk)}, {"elsewhere"}),
        (lambda d: {"customer": "nobody@example.com"}, set()),
        (lambda d: {"sign": "added"}, {"reward", "square", "yotpo", "elsewhere"}),
        (lambda d: {"sign": "removed"}, {"redeem", "expired", "bulk"}),
        (lambda d: {"amount_min": 100}, {"reward", "yotpo", "bulk"}),
        (lambda d: {"amount_max": 30}, {"redeem", "square", "expired"}),
        (lambda d: {"location_ids": ("LOC-1", "LOC-9")}, {"reward"}),
        (lambda d: {"location_ids": ()}, set()),
        (lambda d: {"order_id": "ORDER-1"}, {"square"}),
        (
            lambda d: {"program": d["program"], "sign": "removed", "created_from": start_of(1)},
            {"expired", "bulk"},
        ),
    ],
)
def test_each_field_narrows_the_events(ledger, fields, expected):
    query = EventQuery(**fields(ledger))

    found = set(matching_events(query=query).values_list("pk", flat=True))

    assert found == {ledger[name].pk for name in expected}


def details(event: LoyaltyEvent) -> tuple:
    """Everything a history row shows besides the event's own columns."""
    reversed_by = getattr(event, "reversed_by", None)  # None: DoesNotExist
    approval = getattr(event, "approval_request", None)
    return (
        event.account.email,
        event.reason and event.reason.code,
        event.actor,
        event.api_client,
        event.reverses,
        reversed_by and reversed_by.actor,
        approval and approval.decided_by,
        event.reward and event.reward.tier.name,
    )


def test_a_page_is_newest_first_with_the_rows_details_read_with_it(
    ledger, django_assert_max_num_queries, django_assert_num_queries
):
    # The page, then one query per relation that a row on it has (at most).
    with django_assert_max_num_queries(1 + len(EVENT_PREFETCHES)):
        page = event_page(query=EventQuery(account_id=ledger["ann"].pk), limit=2)
    with django_assert_num_queries(0):
        shown = [details(e) for e in page.items]

    assert [e.pk for e in page.items] == [ledger["square"].pk, ledger["redeem"].pk]
    assert shown[1][:2] == ("ann@example.com", "REDEEM_DISCOUNT")
    rest = event_page(
        query=EventQuery(account_id=ledger["ann"].pk), cursor=page.next_cursor, limit=2
    )
    assert [e.pk for e in rest.items] == [ledger["reward"].pk]
    assert rest.next_cursor is None


def test_each_api_reads_what_its_rows_show_and_no_more(
    ledger, manager, django_assert_max_num_queries, django_assert_num_queries
):
    from ledger.api.native.events import EVENT_ROW, event_output
    from ledger.selectors.square import square_event

    make_event(ledger["ann"], 30, type=Type.REVERSAL, reverses=ledger["redeem"], actor=manager)
    query = EventQuery(program=ledger["program"])
    everything = event_page(query=query, limit=50).items  # as the console reads them

    # The native API: the reason, the author, the API client and the reversal.
    with django_assert_max_num_queries(1 + len(EVENT_ROW.prefetches)):
        page = event_page(query=query, limit=50, shown=EVENT_ROW)
    with django_assert_num_queries(0):
        native = [event_output(e) for e in page.items]
    assert native == [event_output(e) for e in everything]
    assert any(row["reversed_by"] for row in native) and any(row["actor"] for row in native)

    # Square: the events' own columns, in one statement that joins no other table.
    with django_assert_num_queries(1) as read:
        page = event_page(query=query, limit=50, shown=Shown())
    assert "JOIN" not in read.captured_queries[0]["sql"]
    with django_assert_num_queries(0):
        square = [square_event(e) for e in page.items]
    assert square == [square_event(e) for e in everything]


# --- Every face reads the same events ------------------------------------------------------


def console_ids(client: Client, **params: str) -> set[str]:
    response = client.get(reverse("history"), params)
    assert response.status_code == 200
    return {str(e.pk) for e in response.context["page"].items}


def native_ids(key: str, **params: str) -> set[str]:
    response = APIClient().get("/api/v1/events", params, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200, response.json()
    return {e["id"] for e in response.json()["events"]}


def square_ids(key: str, **filters: dict) -> set[str]:
    response = APIClient().post(
        "/v2/loyalty/events/search",
        json.dumps({"query": {"filter": filters}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200, response.json()
    return {e["id"] for e in response.json()["events"]}


def ids(ledger, *names: str) -> set[str]:
    return {str(ledger[name].pk) for name in names}


def test_the_faces_agree_on_an_account_and_a_date_range(ledger, manager_client):
    ann = str(ledger["ann"].pk)
    expected = ids(ledger, "redeem", "square")

    console = console_ids(
        manager_client,
        customer=ann,
        date_from=noon(2).date().isoformat(),
        date_to=noon(1).date().isoformat(),
    )
    native = native_ids(
        ledger["key"],
        account=ann,
        created_after=start_of(2).isoformat(),
        created_before=start_of(0).isoformat(),
    )
    square = square_ids(
        ledger["key"],
        loyalty_account_filter={"loyalty_account_id": ann},
        date_time_filter={
            "created_at": {
                "start_at": start_of(2).isoformat(),
                "end_at": start_of(0).isoformat(),  # exclusive, as Square documents
            }
        },
    )
    selector = {
        str(pk)
        for pk in matching_events(
            query=EventQuery(
                account_id=ledger["ann"].pk,
                created_from=start_of(2),
                created_before=start_of(0),
            )
        ).values_list("pk", flat=True)
    }

    assert console == native == square == selector == expected


def test_the_faces_agree_on_a_source_and_a_type(ledger, manager_client):
    assert console_ids(manager_client, source=Source.YOTPO_API, date_from="") == ids(
        ledger, "yotpo"
    )
    assert native_ids(ledger["key"], source=Source.YOTPO_API) == ids(ledger, "yotpo")
    assert native_ids(ledger["key"], type=Type.EXPIRE_POINTS) == ids(ledger, "expired")
    assert square_ids(ledger["key"], type_filter={"types": ["EXPIRE_POINTS"]}) == ids(
        ledger, "expired"
    )


def test_yotpo_shows_the_same_newest_events_as_the_account_page(ledger):
    response = Client(headers={"x-api-key": ledger["key"]}).get(
        "/api/v2/customers", {"customer_id": "BOB-1", "with_history": "true"}
    )

    assert response.status_code == 200
    assert [h["points"] for h in response.json()["history"]] == [-200, -10, 500]


def test_the_native_reason_filter_understands_a_code_in_any_case(ledger):
    expected = ids(ledger, "reward", "yotpo", "elsewhere")

    assert native_ids(ledger["key"], reason="reward") == expected
    assert native_ids(ledger["key"], reason="REWARD") == expected
