"""Rate limit per key: exact in Redis (db 2 here), per process without it, fail-open."""

import logging
import threading

import pytest
import redis

from ledger.api import auth as api_auth
from tests.factories import api_client

from .conftest import bearer

REDIS_URL = "redis://127.0.0.1:6379/2"


@pytest.fixture
def with_redis(settings):
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not running at 127.0.0.1:6379")
    settings.REDIS_URL = REDIS_URL
    api_auth._redis_down_until.clear()
    created: list[str] = []
    yield created
    if created:
        redis.Redis.from_url(REDIS_URL).delete(*created)


def limited_client(created: list[str], name: str, rate: int = 100):
    client, key = api_client(name, "read,write", rate=rate)
    created.append(f"loyalty:ratelimit:client:{client.prefix}")
    return bearer(key)


def test_150_requests_in_a_minute_give_exactly_100_and_50_refusals(with_redis, program):
    api = limited_client(with_redis, "busy")
    other = limited_client(with_redis, "quiet")

    responses = [api.get("/api/v1/reasons") for _ in range(150)]

    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 100
    assert statuses.count(429) == 50
    assert statuses[:100] == [200] * 100
    assert [r["RateLimit-Remaining"] for r in responses[98:101]] == ["1", "0", "0"]
    refused = responses[-1]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["RateLimit-Limit"] == "100"
    assert refused.json()["errors"][0]["code"] == "THROTTLED"
    # Another key has its own window.
    response = other.get("/api/v1/reasons")
    assert response.status_code == 200
    assert response["RateLimit-Remaining"] == "99"


def test_the_count_is_exact_under_concurrency(with_redis):
    identity = "client:concurrency-test"
    with_redis.append(f"loyalty:ratelimit:{identity}")
    allowed = []

    def hit():
        for _ in range(15):
            allowed.append(api_auth.count_request(identity, 100).allowed)

    threads = [threading.Thread(target=hit) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert allowed.count(True) == 100
    assert allowed.count(False) == 50


def test_square_clients_get_square_429s(with_redis, program):
    api = limited_client(with_redis, "square", rate=1)
    api.get("/v2/loyalty/programs/main")

    response = api.get("/v2/loyalty/programs/main")

    assert response.status_code == 429
    assert response.json()["errors"][0]["category"] == "RATE_LIMIT_ERROR"
    assert response.json()["errors"][0]["code"] == "RATE_LIMITED"
    assert "Retry-After" in response


def test_with_redis_unreachable_the_api_still_answers(settings, program, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    api_auth._redis_down_until.clear()
    _, key = api_client("resilient", "read", rate=1)

    with caplog.at_level(logging.WARNING, logger="ledger.api.auth"):
        responses = [bearer(key).get("/api/v1/reasons") for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert "Redis is unavailable" in caplog.text
    api_auth._redis_down_until.clear()


def test_without_redis_the_cache_counts_per_process(settings, program):
    settings.REDIS_URL = ""
    _, key = api_client("local", "read", rate=3)
    api = bearer(key)

    statuses = [api.get("/api/v1/reasons").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
