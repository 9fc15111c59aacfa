"""The official `squareup` SDK (v46) against the Square Loyalty dialect on a live server."""

from datetime import timedelta

import pytest
from square import Square
from square.core.api_error import ApiError

from accounts.models import LoyaltyAccount
from ledger.models import LoyaltyEvent
from tests.factories import AccountFactory, api_client

pytestmark = pytest.mark.django_db(transaction=True)
NO_RETRY = {"max_retries": 0}


def enroll(square: Square, phone: str, key: str, customer_id: str | None = None):
    account = {"program_id": "main", "mapping": {"phone_number": phone}}
    if customer_id:
        account["customer_id"] = customer_id
    return square.loyalty.accounts.create(loyalty_account=account, idempotency_key=key)


def test_programs(square, program):
    got = square.loyalty.programs.get(program_id="main").program
    assert got.id == str(program.id)
    assert got.terminology.one == "Point"
    assert got.accrual_rules[0].accrual_type == "SPEND"
    assert [p.id for p in square.loyalty.programs.list().programs] == [str(program.id)]

    calculated = square.loyalty.programs.calculate(
        program_id=str(program.id), transaction_amount_money={"amount": 1999, "currency": "USD"}
    )
    assert (calculated.points, calculated.promotion_points) == (19, 0)


def test_create_get_and_replay_an_account(square, program):
    created = enroll(square, "+1 415 555 0101", "create-1", customer_id="C-1").loyalty_account
    replay = enroll(square, "+1 415 555 0101", "create-1", customer_id="C-1").loyalty_account

    assert replay.id == created.id
    assert created.mapping.phone_number == "+14155550101"
    assert (created.balance, created.lifetime_points, created.customer_id) == (0, 0, "C-1")
    got = square.loyalty.accounts.get(account_id=created.id).loyalty_account
    assert got.id == created.id
    assert LoyaltyAccount.objects.filter(phone="+14155550101").count() == 1


def test_account_errors(square, program):
    enroll(square, "+14155550102", "a")
    with pytest.raises(ApiError) as duplicate:
        square.loyalty.accounts.create(
            loyalty_account={"program_id": "main", "mapping": {"phone_number": "+14155550102"}},
            idempotency_key="b",
            request_options=NO_RETRY,
        )
    assert duplicate.value.status_code == 409
    assert duplicate.value.body["errors"][0]["code"] == "CONFLICT"

    with pytest.raises(ApiError) as reused:
        enroll(square, "+14155550103", "a")
    assert reused.value.status_code == 400
    assert reused.value.body["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert reused.value.body["errors"][0]["field"] == "idempotency_key"

    with pytest.raises(ApiError) as bad_phone:
        enroll(square, "12", "c")
    assert bad_phone.value.status_code == 400
    assert bad_phone.value.body["errors"][0] == {
        "category": "INVALID_REQUEST_ERROR",
        "code": "INVALID_PHONE_NUMBER",
        "detail": "“12” is not a possible phone number.",
        "field": "loyalty_account.mapping.phone_number",
    }

    with pytest.raises(ApiError) as missing:
        square.loyalty.accounts.get(account_id="00000000-0000-0000-0000-000000000000")
    assert missing.value.status_code == 404
    assert missing.value.body["errors"][0]["code"] == "NOT_FOUND"


def test_search_accounts_with_cursor_pages_in_creation_order(square, program):
    accounts = [AccountFactory(program=program) for _ in range(5)]

    by_phone = square.loyalty.accounts.search(
        query={"mappings": [{"phone_number": accounts[1].phone}]}
    )
    assert [a.id for a in by_phone.loyalty_accounts] == [str(accounts[1].id)]
    by_customer = square.loyalty.accounts.search(
        query={"customer_ids": [accounts[2].customer_id, accounts[3].customer_id]}
    )
    assert [a.id for a in by_customer.loyalty_accounts] == [
        str(accounts[2].id),
        str(accounts[3].id),
    ]

    seen, cursor = [], None
    while True:
        page = square.loyalty.accounts.search(limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [a.id for a in page.loyalty_accounts]
        cursor = page.cursor
        if not cursor:
            break
    assert seen == [str(a.id) for a in accounts]

    with pytest.raises(ApiError) as bad_cursor:
        square.loyalty.accounts.search(cursor="nonsense")
    assert bad_cursor.value.body["errors"][0]["code"] == "INVALID_CURSOR"
    with pytest.raises(ApiError) as bad_limit:
        square.loyalty.accounts.search(limit=201)
    assert bad_limit.value.body["errors"][0]["field"] == "limit"


def test_accumulate_adds_to_balance_and_lifetime(square, program, square_key):
    account = AccountFactory(program=program)

    response = square.loyalty.accounts.accumulate_points(
        account_id=str(account.id),
        accumulate_points={"points": 12, "order_id": "ORDER-1"},
        location_id="LOC-1",
        idempotency_key="acc-1",
    )

    event = response.events[0]
    assert (event.type, event.source, event.location_id) == (
        "ACCUMULATE_POINTS",
        "LOYALTY_API",
        "LOC-1",
    )
    assert (event.accumulate_points.points, event.accumulate_points.order_id) == (12, "ORDER-1")
    account.refresh_from_db()
    assert (account.balance, account.lifetime_points) == (12, 12)
    stored = LoyaltyEvent.objects.get(pk=event.id)
    assert (stored.source, stored.api_client) == (LoyaltyEvent.Source.SQUARE_API, square_key[0])

    with pytest.raises(ApiError) as order_only:
        square.loyalty.accounts.accumulate_points(
            account_id=str(account.id),
            accumulate_points={"order_id": "ORDER-2"},
            location_id="LOC-1",
            idempotency_key="acc-2",
        )
    assert order_only.value.status_code == 400
    assert order_only.value.body["errors"][0]["field"] == "accumulate_points.order_id"


def test_adjust_up_down_replay_reuse_and_overdraft(square, program):
    account = AccountFactory(program=program)
    account_id = str(account.id)

    up = square.loyalty.accounts.adjust(
        account_id=account_id,
        idempotency_key="adj-1",
        adjust_points={"points": 50, "reason": "Welcome"},
    ).event
    replay = square.loyalty.accounts.adjust(
        account_id=account_id,
        idempotency_key="adj-1",
        adjust_points={"points": 50, "reason": "Welcome"},
    ).event
    assert replay.id == up.id
    assert (up.type, up.adjust_points.points, up.adjust_points.reason) == (
        "ADJUST_POINTS",
        50,
        "Welcome",
    )
    square.loyalty.accounts.adjust(
        account_id=account_id, idempotency_key="adj-2", adjust_points={"points": -20}
    )
    account.refresh_from_db()
    assert (account.balance, account.lifetime_points) == (30, 50)

    with pytest.raises(ApiError) as reused:
        square.loyalty.accounts.adjust(
            account_id=account_id, idempotency_key="adj-1", adjust_points={"points": 51}
        )
    assert reused.value.status_code == 400
    assert reused.value.body["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"

    with pytest.raises(ApiError) as overdraft:
        square.loyalty.accounts.adjust(
            account_id=account_id, idempotency_key="adj-3", adjust_points={"points": -31}
        )
    assert overdraft.value.status_code == 400
    assert overdraft.value.body["errors"][0]["code"] == "BAD_REQUEST"
    account.refresh_from_db()
    assert account.balance == 30
    assert account.events.count() == 2

    square.loyalty.accounts.adjust(
        account_id=account_id,
        idempotency_key="adj-4",
        adjust_points={"points": -31},
        allow_negative_balance=True,
    )
    account.refresh_from_db()
    assert (account.balance, account.lifetime_points) == (-1, 50)

    with pytest.raises(ApiError) as huge:
        square.loyalty.accounts.adjust(
            account_id=account_id, idempotency_key="adj-5", adjust_points={"points": 2**31}
        )
    assert huge.value.status_code == 400
    assert huge.value.body["errors"][0]["field"] == "adjust_points.points"


def test_search_events_newest_first_with_filters_and_cursor(square, program):
    account, other = AccountFactory(program=program), AccountFactory(program=program)
    ids = []
    for n in range(1, 6):
        ids.append(
            square.loyalty.accounts.adjust(
                account_id=str(account.id), idempotency_key=f"e{n}", adjust_points={"points": n}
            ).event.id
        )
    square.loyalty.accounts.accumulate_points(
        account_id=str(other.id),
        accumulate_points={"points": 3},
        location_id="LOC-9",
        idempotency_key="o1",
    )

    seen, cursor = [], None
    account_filter = {"filter": {"loyalty_account_filter": {"loyalty_account_id": str(account.id)}}}
    while True:
        page = square.loyalty.search_events(
            query=account_filter, limit=2, **({"cursor": cursor} if cursor else {})
        )
        seen += [e.id for e in page.events]
        cursor = page.cursor
        if not cursor:
            break
    assert seen == list(reversed(ids))

    by_type = square.loyalty.search_events(
        query={"filter": {"type_filter": {"types": ["ACCUMULATE_POINTS"]}}}
    )
    assert [e.loyalty_account_id for e in by_type.events] == [str(other.id)]
    by_location = square.loyalty.search_events(
        query={"filter": {"location_filter": {"location_ids": ["LOC-9"]}}}
    )
    assert len(by_location.events) == 1


def test_sdk_auth_errors(live_server, program, square_key):
    account = AccountFactory(program=program)
    with pytest.raises(ApiError) as unknown:
        Square(token="nope.nope", base_url=live_server.url).loyalty.programs.get(program_id="main")
    assert unknown.value.status_code == 401
    assert unknown.value.body["errors"][0]["category"] == "AUTHENTICATION_ERROR"
    assert unknown.value.body["errors"][0]["code"] == "UNAUTHORIZED"

    _, read_key = api_client("reader", "read")
    reader = Square(token=read_key, base_url=live_server.url)
    assert reader.loyalty.accounts.get(account_id=str(account.id)).loyalty_account.balance == 0
    with pytest.raises(ApiError) as forbidden:
        reader.loyalty.accounts.adjust(
            account_id=str(account.id), idempotency_key="r", adjust_points={"points": 1}
        )
    assert forbidden.value.status_code == 403
    assert forbidden.value.body["errors"][0]["code"] == "FORBIDDEN"
    assert not LoyaltyEvent.objects.exists()


def test_accounts_show_their_expiring_point_deadlines(square, program):
    program.expiration_policy = "P30D"
    program.save()
    account = AccountFactory(program=program)
    square.loyalty.accounts.accumulate_points(
        account_id=str(account.id),
        accumulate_points={"points": 12},
        location_id="LOC-1",
        idempotency_key="acc-exp",
    )
    earned = LoyaltyEvent.objects.get(account=account)

    fetched = square.loyalty.accounts.get(account_id=str(account.id)).loyalty_account

    (deadline,) = fetched.expiring_point_deadlines
    assert deadline.points == 12
    assert deadline.expires_at == (earned.created_at + timedelta(days=30)).isoformat().replace(
        "+00:00", "Z"
    )
