"""A threaded HTTP client that mixes the API's writes and reads for a while and keeps score.

Every write carries an idempotency key. A write that gets no answer (connection error) or a
5xx is retried with the same key until it is answered, so at the end each key stands for one
intended change; `Tally.acknowledged` maps each key to the event id the server reported.
"""

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import requests

WRITE_OPS = ("native_adjust", "native_reverse", "square_adjust", "square_accumulate", "yotpo")
READ_OPS = ("native_search", "native_history", "native_events", "square_search", "square_events")


@dataclass
class World:
    base_url: str
    key: str
    accounts: list[dict]  # {"id", "email", "phone"}


@dataclass
class Tally:
    started: float = field(default_factory=time.monotonic)
    finished: float = 0.0
    statuses: Counter = field(default_factory=Counter)  # (op, status or "conn")
    acknowledged: dict[str, str | None] = field(default_factory=dict)  # key → event id
    unanswered: set[str] = field(default_factory=set)  # keys whose last try had no answer
    latencies: list[float] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    # Server failures that were not a JSON 503 with Retry-After (what a client can act on).
    improper_failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, op: str, status: int | str, seconds: float) -> None:
        with self.lock:
            self.statuses[(op, status)] += 1
            self.latencies.append(seconds)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for (_, s), n in self.statuses.items() if isinstance(s, int) and s >= 500)

    @property
    def connection_errors(self) -> int:
        return sum(n for (_, s), n in self.statuses.items() if s == "conn")

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else 0.0

    def summary(self) -> dict:
        seconds = (self.finished or time.monotonic()) - self.started
        by_op = Counter()
        for (op, _), n in self.statuses.items():
            by_op[op] += n
        return {
            "seconds": round(seconds, 1),
            "requests": self.requests,
            "per_second": round(self.requests / seconds, 1) if seconds else 0,
            "writes_acknowledged": len(self.acknowledged),
            "server_errors": self.server_errors,
            "connection_errors": self.connection_errors,
            "p50_ms": round(self.percentile(0.5) * 1000),
            "p95_ms": round(self.percentile(0.95) * 1000),
            "p99_ms": round(self.percentile(0.99) * 1000),
            "by_op": dict(sorted(by_op.items())),
            "statuses": {f"{op} {s}": n for (op, s), n in sorted(self.statuses.items(), key=str)},
        }


class Client:
    def __init__(self, world: World, tally: Tally, rng: random.Random, *, retry_until=None):
        self.world, self.tally, self.rng = world, tally, rng
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {world.key}"
        # Retries stop at this monotonic time (None: retry until answered, at most 60 s).
        self.retry_until = retry_until

    # --- one call, timed and tallied ---

    def call(self, op: str, method: str, path: str, **kwargs) -> requests.Response | None:
        start = time.monotonic()
        try:
            response = self.session.request(
                method, self.world.base_url + path, timeout=30, **kwargs
            )
        except requests.RequestException:
            self.tally.record(op, "conn", time.monotonic() - start)
            return None
        self.tally.record(op, response.status_code, time.monotonic() - start)
        if response.status_code >= 500:
            kind = response.headers.get("Content-Type", "")
            if not (
                response.status_code == 503
                and response.headers.get("Retry-After")
                and kind.startswith("application/json")
            ):
                with self.tally.lock:
                    self.tally.improper_failures.append(f"{op} {response.status_code} {kind}")
        return response

    def write(self, op: str, method: str, path: str, key: str, event_of, **kwargs) -> None:
        """A write, retried with the same key while unanswered or 5xx."""
        deadline = time.monotonic() + 60
        while True:
            response = self.call(op, method, path, **kwargs)
            answered = response is not None and response.status_code < 500
            if answered:
                with self.tally.lock:
                    self.tally.unanswered.discard(key)
                    if response.status_code < 300:
                        event_id = event_of(response.json())
                        self.tally.acknowledged[key] = event_id
                        if event_id:
                            self.tally.event_ids.append(event_id)
                return
            with self.tally.lock:
                self.tally.unanswered.add(key)
            if self.retry_until is not None and time.monotonic() > self.retry_until:
                return
            if time.monotonic() > deadline:
                return
            time.sleep(0.2)

    # --- the mix ---

    def account(self) -> dict:
        return self.rng.choice(self.world.accounts)

    def native_adjust(self) -> None:
        account, key = self.account(), f"load-{uuid.uuid4()}"
        add = self.rng.random() < 0.7
        body = {
            "reason": "REWARD" if add else "REDEEM_DISCOUNT",
            "points": self.rng.randint(1, 500) * (1 if add else -1),
            "note": "load",
        }
        self.write(
            "native_adjust",
            "POST",
            f"/api/v1/accounts/{account['id']}/adjustments",
            key,
            lambda data: data["id"],
            json=body,
            headers={"Idempotency-Key": key},
        )

    def native_reverse(self) -> None:
        with self.tally.lock:
            if not self.tally.event_ids:
                return
            event_id = self.rng.choice(self.tally.event_ids)
        key = f"load-{uuid.uuid4()}"
        self.write(
            "native_reverse",
            "POST",
            f"/api/v1/events/{event_id}/reverse",
            key,
            lambda data: data["id"],
            json={"note": "load reversal"},
            headers={"Idempotency-Key": key},
        )

    def square_adjust(self) -> None:
        account, key = self.account(), f"load-{uuid.uuid4()}"
        points = self.rng.choice([1, 1, 1, -1]) * self.rng.randint(1, 300)
        self.write(
            "square_adjust",
            "POST",
            f"/v2/loyalty/accounts/{account['id']}/adjust",
            key,
            lambda data: data["event"]["id"],
            json={"adjust_points": {"points": points, "reason": "load"}, "idempotency_key": key},
        )

    def square_accumulate(self) -> None:
        account, key = self.account(), f"load-{uuid.uuid4()}"
        self.write(
            "square_accumulate",
            "POST",
            f"/v2/loyalty/accounts/{account['id']}/accumulate",
            key,
            lambda data: data["events"][0]["id"],
            json={
                "accumulate_points": {"points": self.rng.randint(1, 200)},
                "location_id": "L1",
                "idempotency_key": key,
            },
        )

    def yotpo(self) -> None:
        account, key = self.account(), f"load-{uuid.uuid4()}"
        self.write(
            "yotpo",
            "POST",
            "/api/v2/points/adjust",
            key,
            lambda data: None,  # Yotpo answers with the customer, not the event
            json={
                "customer_email": account["email"],
                "point_adjustment_amount": self.rng.randint(-100, 300) or 1,
                "apply_adjustment_to_points_earned": self.rng.random() < 0.5,
                "history_title": "load",
            },
            headers={"x-api-key": self.world.key, "Idempotency-Key": key},
        )

    def native_search(self) -> None:
        self.call(
            "native_search", "GET", "/api/v1/accounts", params={"q": self.account()["email"][:6]}
        )

    def native_history(self) -> None:
        self.call("native_history", "GET", f"/api/v1/accounts/{self.account()['id']}/events")

    def native_events(self) -> None:
        self.call("native_events", "GET", "/api/v1/events", params={"limit": 50})

    def square_search(self) -> None:
        body = {"query": {"mappings": [{"phone_number": self.account()["phone"]}]}}
        self.call("square_search", "POST", "/v2/loyalty/accounts/search", json=body)

    def square_events(self) -> None:
        body = {
            "query": {
                "filter": {"loyalty_account_filter": {"loyalty_account_id": self.account()["id"]}}
            }
        }
        self.call("square_events", "POST", "/v2/loyalty/events/search", json=body)

    def one(self, ops: tuple[str, ...], weights: tuple[int, ...]) -> None:
        getattr(self, self.rng.choices(ops, weights)[0])()


MIX = {
    "native_adjust": 25,
    "native_reverse": 5,
    "square_adjust": 12,
    "square_accumulate": 12,
    "yotpo": 6,
    "native_search": 10,
    "native_history": 10,
    "native_events": 6,
    "square_search": 7,
    "square_events": 7,
}


def run(
    world: World,
    *,
    seconds: float,
    threads: int = 8,
    mix: dict[str, int] = MIX,
    seed: int = 9,
    during=None,
) -> Tally:
    """Run the mix from `threads` clients for `seconds`; `during(tally)` runs beside them
    (e.g. to inject a fault) and the run ends when both are done."""
    tally = Tally()
    stop_at = time.monotonic() + seconds
    ops, weights = tuple(mix), tuple(mix.values())

    def client_loop(i: int) -> None:
        client = Client(world, tally, random.Random(seed * 1000 + i))
        while time.monotonic() < stop_at:
            client.one(ops, weights)

    workers = [threading.Thread(target=client_loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    if during is not None:
        during(tally)
    for worker in workers:
        worker.join()
    tally.finished = time.monotonic()
    return tally
