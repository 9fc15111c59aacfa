"""Replays in-process, on both engines: 50 sequential replays of one request give one event;
the same key with another body is refused every time."""

import pytest

from ledger.models import LoyaltyEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded(account, reasons):
    from ledger.services import Actor, adjust_points

    adjust_points(account=account, points=1000, reason=reasons["REWARD"], actor=Actor.system())
    return account


@pytest.mark.parametrize("dialect", ["native", "square", "yotpo"])
def test_fifty_replays_make_one_event_and_other_bodies_are_refused(api, funded, dialect):
    if dialect == "native":
        path, status, conflict = f"/api/v1/accounts/{funded.pk}/adjustments", 201, 422

        def body(points):
            return {"reason": "REDEEM_DISCOUNT", "points": -points}
    elif dialect == "square":
        path, status, conflict = f"/v2/loyalty/accounts/{funded.pk}/adjust", 200, 400

        def body(points):
            return {"adjust_points": {"points": -points}, "idempotency_key": "replay-1"}
    else:
        path, status, conflict = "/api/v2/points/adjust", 200, 422

        def body(points):
            return {"customer_email": funded.email, "point_adjustment_amount": -points}

    key = api._credentials["HTTP_AUTHORIZATION"].split()[1]
    headers = {"HTTP_IDEMPOTENCY_KEY": "replay-1", "HTTP_X_API_KEY": key}

    answers = [api.post(path, body(5), format="json", **headers) for _ in range(50)]
    conflicts = [api.post(path, body(6 + i), format="json", **headers) for i in range(10)]

    assert {a.status_code for a in answers} == {status}
    assert len({a.content for a in answers}) == 1
    assert funded.events.exclude(source=LoyaltyEvent.Source.SYSTEM).count() == 1
    funded.refresh_from_db()
    assert funded.balance == 995
    assert {c.status_code for c in conflicts} == {conflict}


def test_a_retry_gets_the_first_answer_even_when_the_command_would_now_be_refused(
    api, account, reasons
):
    from ledger.services import Actor, adjust_points

    adjust_points(account=account, points=100, reason=reasons["REWARD"], actor=Actor.system())
    path = f"/api/v1/accounts/{account.pk}/adjustments"
    body = {"reason": "REDEEM_DISCOUNT", "points": -100}

    first = api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="all-of-it")
    again = api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="all-of-it")
    other = api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="another")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    # A new request is judged afresh: nothing is left to remove.
    assert other.json()["errors"][0]["code"] == "INSUFFICIENT_POINTS"
    account.refresh_from_db()
    assert account.balance == 0
