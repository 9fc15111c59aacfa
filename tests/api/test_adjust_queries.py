"""The adjust path's SQL round trips, on both engines: an API key's adjustment through the
native API and the Square dialect makes at most five statements (BEGIN and COMMIT aside), the
API key check and the idempotency record included; on PostgreSQL, two: the account's lock,
then the event, the balance, the lot and the key's record in one statement. The count is a
behaviour: a change that adds a round trip to the hot path fails here, whatever the
machine's speed."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.models import IdempotencyRecord, LoyaltyEvent

from .conftest import bearer

pytestmark = pytest.mark.django_db(transaction=True)

MAX_STATEMENTS = 5
POSTGRESQL_STATEMENTS = 2


def budget() -> int:
    return POSTGRESQL_STATEMENTS if connection.vendor == "postgresql" else MAX_STATEMENTS


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].split(None, 1)[0].upper() not in ("BEGIN", "COMMIT")
    ]


def native(api, account, n: int):
    return api.post(
        f"/api/v1/accounts/{account.pk}/adjustments",
        {"reason": "REWARD", "points": 10},
        format="json",
        HTTP_IDEMPOTENCY_KEY=f"native-{n}",
    )


def square(api, account, n: int):
    return api.post(
        f"/v2/loyalty/accounts/{account.pk}/adjust",
        {"adjust_points": {"points": 10, "reason": "Goodwill"}, "idempotency_key": f"sq-{n}"},
        format="json",
    )


@pytest.mark.parametrize("dialect", [native, square], ids=["native", "square"])
def test_an_api_key_adjustment_makes_at_most_five_statements_two_on_postgresql(
    writer_key, account, dialect
):
    api = bearer(writer_key[1])
    assert dialect(api, account, 0).status_code in (200, 201)  # the key and reasons are now known

    with CaptureQueriesContext(connection) as captured:
        response = dialect(api, account, 1)

    assert response.status_code in (200, 201), response.content
    made = statements(captured)
    assert len(made) <= budget(), "\n".join(made)
    account.refresh_from_db()
    assert account.balance == 20
    assert LoyaltyEvent.objects.filter(account=account).count() == 2
    assert IdempotencyRecord.objects.filter(event__account=account).count() == 2


@pytest.mark.parametrize("dialect", [native, square], ids=["native", "square"])
def test_a_cold_process_adds_only_the_key_and_reason_reads(writer_key, account, dialect):
    with CaptureQueriesContext(connection) as captured:
        response = dialect(bearer(writer_key[1]), account, 0)

    assert response.status_code in (200, 201), response.content
    assert len(statements(captured)) <= budget() + 2, "\n".join(statements(captured))


def test_a_replay_answers_the_first_response_without_writing(writer_key, account):
    api = bearer(writer_key[1])
    first = native(api, account, 7)
    again = native(api, account, 7)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    account.refresh_from_db()
    assert account.balance == 10
