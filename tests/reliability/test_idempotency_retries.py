"""Retries over real HTTP: 50 sequential and 20 concurrent replays of one request give one
event; the same key with another body is refused every time (native API, Square, Yotpo)."""

import threading
import uuid

import requests

from ledger.models import LoyaltyEvent
from ledger.selectors import ledger_discrepancies

from .conftest import world_for

SEQUENTIAL, CONCURRENT = 50, 20


def dialects(account: dict) -> dict:
    """name → (path, body(key, points), extra headers, event id of an answer, conflict status)"""
    return {
        "native": (
            f"/api/v1/accounts/{account['id']}/adjustments",
            lambda key, points: {"reason": "REWARD", "points": points},
            lambda key: {"Idempotency-Key": key},
            lambda data: data["id"],
            422,
        ),
        "square": (
            f"/v2/loyalty/accounts/{account['id']}/adjust",
            lambda key, points: {"adjust_points": {"points": points}, "idempotency_key": key},
            lambda key: {},
            lambda data: data["event"]["id"],
            400,
        ),
        "yotpo": (
            "/api/v2/points/adjust",
            lambda key, points: {
                "customer_email": account["email"],
                "point_adjustment_amount": points,
            },
            lambda key: {"Idempotency-Key": key},
            lambda data: None,
            422,
        ),
    }


def test_replays_apply_once_and_other_bodies_are_refused(start_server, seeded, capsys):
    server = start_server()
    world = world_for(server, seeded)
    figures = {}
    for name, (path, body, headers, event_of, conflict) in dialects(world.accounts[0]).items():
        key = f"retry-{name}-{uuid.uuid4()}"
        auth = {"Authorization": f"Bearer {world.key}", "x-api-key": world.key, **headers(key)}
        before = LoyaltyEvent.objects.count()

        def send(points: int, auth=auth, path=path, body=body, key=key) -> requests.Response:
            return requests.post(
                server.url + path, json=body(key, points), headers=auth, timeout=30
            )

        answers = [send(7) for _ in range(SEQUENTIAL)]
        barrier = threading.Barrier(CONCURRENT)

        def replay(barrier=barrier, answers=answers, send=send) -> None:
            barrier.wait()
            answers.append(send(7))

        threads = [threading.Thread(target=replay) for _ in range(CONCURRENT)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        conflicts = [send(8 + i) for i in range(10)]

        assert len(answers) == SEQUENTIAL + CONCURRENT
        assert {a.status_code for a in answers} <= {200, 201}, name
        assert len({str(event_of(a.json())) for a in answers}) == 1, name
        assert LoyaltyEvent.objects.count() - before == 1, name
        assert [c.status_code for c in conflicts] == [conflict] * 10, name
        figures[name] = {"replays": len(answers), "events": 1, "conflicts_refused": 10}
    assert ledger_discrepancies() == []
    with capsys.disabled():
        print("\nidempotency:", figures)
