"""Square's SearchLoyaltyEvents over a known ledger: every filter alone and combined (AND
across filters, OR within one), newest first, pages of at most 30 with Square's cursor, and
unknown types or malformed times refused in Square's error format."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from ledger import services
from ledger.models import LoyaltyEvent
from tests.factories import AccountFactory, api_client

from .conftest import bearer

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
URL = "/v2/loyalty/events/search"


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def stamp(hours: int) -> str:
    return at(hours).isoformat().replace("+00:00", "Z")


@pytest.fixture
def ledger(program, manager):
    """e1…e8, one an hour from T0+1h, across two customers, every kind of event."""
    client, key = api_client("pos", "read,write", rate=10_000)
    square = services.Actor.of_client(client, source=LoyaltyEvent.Source.SQUARE_API)
    managing = services.Actor.of_operator(manager)
    coffee = services.add_reward_tier(program=program, name="Coffee", points=300, actor=managing)
    tea = services.add_reward_tier(program=program, name="Tea", points=100, actor=managing)
    events = {}
    with time_machine.travel(T0, tick=False) as clock:
        ann = AccountFactory(program=program)
        bob = AccountFactory(program=program)

        clock.move_to(at(1))
        events["e1"] = services.accumulate_points(
            account=ann, points=100, order_id="O-1", location_id="L1", actor=square
        )
        clock.move_to(at(2))
        events["e2"] = services.adjust_points(account=ann, points=500, actor=square).event
        clock.move_to(at(3))
        events["e3"] = services.accumulate_points(
            account=bob, points=200, order_id="O-2", location_id="L2", actor=square
        )
        clock.move_to(at(4))
        kept = services.create_reward(account=ann, tier=coffee, order_id="O-3", actor=square)
        events["e4"] = kept.events.get()
        clock.move_to(at(5))
        services.redeem_reward(reward=kept, location_id="L1", actor=square)
        events["e5"] = kept.events.get(type="REDEEM_REWARD")
        clock.move_to(at(6))
        given_back = services.create_reward(account=bob, tier=tea, actor=square)
        events["e6"] = given_back.events.get()
        clock.move_to(at(7))
        services.delete_reward(reward=given_back, actor=square)
        events["e7"] = given_back.events.get(type="DELETE_REWARD")
        clock.move_to(at(8))
        events["e8"] = services.reverse_event(event=events["e1"], note="wrong till", actor=square)
    return {"key": key, "ann": ann, "bob": bob, **{k: str(v.pk) for k, v in events.items()}}


def search(ledger, **body):
    return bearer(ledger["key"]).post(URL, body, format="json")


def found(ledger, **filters) -> list[str]:
    response = search(ledger, query={"filter": filters})
    assert response.status_code == 200, response.json()
    names = {ledger[f"e{n}"]: f"e{n}" for n in range(1, 9)}
    return [names[e["id"]] for e in response.json()["events"]]


def test_no_filter_finds_every_event_newest_first(ledger):
    assert found(ledger) == ["e8", "e7", "e6", "e5", "e4", "e3", "e2", "e1"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"loyalty_account_filter": {"loyalty_account_id": "ann"}}, ["e8", "e5", "e4", "e2", "e1"]),
        ({"loyalty_account_filter": {"loyalty_account_id": "bob"}}, ["e7", "e6", "e3"]),
        ({"type_filter": {"types": ["CREATE_REWARD", "DELETE_REWARD"]}}, ["e7", "e6", "e4"]),
        ({"type_filter": {"types": ["REDEEM_REWARD"]}}, ["e5"]),
        ({"type_filter": {"types": ["ACCUMULATE_POINTS", "ADJUST_POINTS"]}}, ["e3", "e2", "e1"]),
        ({"type_filter": {"types": ["OTHER"]}}, ["e8"]),
        ({"type_filter": {"types": ["EXPIRE_POINTS", "ACCUMULATE_PROMOTION_POINTS"]}}, []),
        # start inclusive (e4 is at 4h), end exclusive (e6 is at 6h)
        ({"date_time_filter": {"created_at": {"start_at": 4, "end_at": 6}}}, ["e5", "e4"]),
        ({"date_time_filter": {"created_at": {"start_at": 7}}}, ["e8", "e7"]),
        ({"date_time_filter": {"created_at": {"end_at": 2}}}, ["e1"]),
        # a reversal happens where the original did
        ({"location_filter": {"location_ids": ["L1"]}}, ["e8", "e5", "e1"]),
        ({"location_filter": {"location_ids": ["L1", "L2"]}}, ["e8", "e5", "e3", "e1"]),
        ({"location_filter": {"location_ids": ["L9"]}}, []),
        ({"order_filter": {"order_id": "O-3"}}, ["e5", "e4"]),
        ({"order_filter": {"order_id": "O-2"}}, ["e3"]),
        # AND across filters
        (
            {
                "loyalty_account_filter": {"loyalty_account_id": "ann"},
                "type_filter": {"types": ["ACCUMULATE_POINTS", "OTHER"]},
            },
            ["e8", "e1"],
        ),
        (
            {
                "location_filter": {"location_ids": ["L1", "L2"]},
                "date_time_filter": {"created_at": {"start_at": 3, "end_at": 8}},
            },
            ["e5", "e3"],
        ),
        (
            {
                "loyalty_account_filter": {"loyalty_account_id": "bob"},
                "order_filter": {"order_id": "O-3"},
            },
            [],
        ),
        (
            {
                "loyalty_account_filter": {"loyalty_account_id": "ann"},
                "type_filter": {"types": ["CREATE_REWARD", "REDEEM_REWARD", "DELETE_REWARD"]},
                "order_filter": {"order_id": "O-3"},
                "location_filter": {"location_ids": ["L1"]},
                "date_time_filter": {"created_at": {"start_at": 1, "end_at": 9}},
            },
            ["e5"],
        ),
    ],
)
def test_each_filter_and_combination_finds_exactly_its_events(ledger, filters, expected):
    if "loyalty_account_filter" in filters:
        name = filters["loyalty_account_filter"]["loyalty_account_id"]
        filters["loyalty_account_filter"] = {"loyalty_account_id": str(ledger[name].pk)}
    created = filters.get("date_time_filter", {}).get("created_at", {})
    for end in created:
        created[end] = stamp(created[end])

    assert found(ledger, **filters) == expected


def test_reward_events_carry_squares_bodies(ledger, program):
    response = search(ledger, query={"filter": {"order_filter": {"order_id": "O-3"}}})

    redeem, create = response.json()["events"]
    assert create["create_reward"]["points"] == -300
    assert create["create_reward"]["loyalty_program_id"] == str(program.pk)
    assert redeem["redeem_reward"]["reward_id"] == create["create_reward"]["reward_id"]
    assert redeem["redeem_reward"]["order_id"] == "O-3"
    assert "points" not in redeem["redeem_reward"]
    assert redeem["location_id"] == "L1"


def test_pages_of_the_limit_follow_the_cursor_to_the_end(ledger):
    seen, cursor, sizes = [], None, []
    while True:
        body = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = search(ledger, **body).json()
        sizes.append(len(page["events"]))
        seen += [e["id"] for e in page["events"]]
        cursor = page.get("cursor")
        if not cursor:
            break

    assert sizes == [3, 3, 2]
    assert seen == [ledger[f"e{n}"] for n in range(8, 0, -1)]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (
            {"query": {"filter": {"type_filter": {"types": ["ADJUST_POINTS", "NOPE"]}}}},
            "INVALID_ENUM_VALUE",
            "query.filter.type_filter.types[1]",
        ),
        (
            {"query": {"filter": {"date_time_filter": {"created_at": {"start_at": "yesterday"}}}}},
            "INVALID_VALUE",
            "query.filter.date_time_filter.created_at.start_at",
        ),
        (
            {"query": {"filter": {"loyalty_account_filter": {"loyalty_account_id": "ann"}}}},
            "INVALID_VALUE",
            "query.filter.loyalty_account_filter.loyalty_account_id",
        ),
        ({"limit": 31}, "VALUE_TOO_HIGH", "limit"),
        ({"cursor": "not-ours"}, "INVALID_CURSOR", "cursor"),
    ],
)
def test_malformed_filters_are_refused_in_squares_format(ledger, body, code, field):
    response = search(ledger, **body)

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["category"], error["code"], error["field"]) == (
        "INVALID_REQUEST_ERROR",
        code,
        field,
    )
    assert error["detail"]
