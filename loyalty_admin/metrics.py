"""Prometheus metrics: the ledger's own counters, and GET /metrics for the scraper.

Requests (rate, latency histograms, responses and exceptions per view) are counted by
django-prometheus's middleware; the counters below are the ledger's. Every counter is moved
in memory only, after the transaction that did the work has committed, so a request spends
no SQL statement on metrics. Gauges that need the database (approvals pending) are read when
Prometheus scrapes, by collectors the domain apps register with `register_state`.

With several gunicorn workers, set PROMETHEUS_MULTIPROC_DIR to an empty directory writable
by all of them (`make serve` does): each worker then writes its counters there and a scrape
sums them, whichever worker answers it.

Access: only from METRICS_ALLOWED_NETWORKS (loopback by default), or with
`Authorization: Bearer <METRICS_TOKEN>` when a token is set. Anyone else gets a 404.
"""

import hmac
import ipaddress
import os

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

ADJUSTMENTS = Counter(
    "loyalty_adjustments_total",
    "Ledger events posted, by face (source), event type and reason code.",
    ["face", "type", "reason"],
)
REFUSALS = Counter(
    "loyalty_refusals_total", "Refusals answered, by face and refusal code.", ["face", "code"]
)
BULK_ROWS_APPLIED = Counter("loyalty_bulk_rows_applied_total", "Bulk file rows applied.")
BULK_BATCHES_RECOVERED = Counter(
    "loyalty_bulk_batches_recovered_total",
    "Bulk batches found stale (their worker stopped), by what became of them.",
    ["outcome"],
)
RATE_LIMITED = Counter(
    "loyalty_rate_limit_refusals_total", "API requests refused by the rate limit (429)."
)
WEBHOOK_DELIVERIES = Counter(
    "loyalty_webhook_deliveries_total", "Webhook delivery attempts, by outcome.", ["status"]
)

_state_collectors: list[Collector] = []


def register_state(collector: Collector) -> None:
    """Add a collector read at scrape time (gauges computed from the database)."""
    _state_collectors.append(collector)


def after_commit(increment) -> None:
    """Move a counter once the current transaction commits (at once outside one)."""
    transaction.on_commit(increment)


def count_refusal(*, face: str, code: str) -> None:
    REFUSALS.labels(face=face, code=code).inc()


def count_webhook_delivery(*, status: str) -> None:
    """Count one webhook delivery attempt by its recorded status ("delivered", "failed"…)."""
    WEBHOOK_DELIVERIES.labels(status=status).inc()


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "")
        if hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n) for n in settings.METRICS_ALLOWED_NETWORKS)


def _exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    state = CollectorRegistry(auto_describe=True)
    for collector in _state_collectors:
        state.register(collector)
    return generate_latest(registry) + generate_latest(state)


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        raise Http404
    return HttpResponse(_exposition(), content_type=CONTENT_TYPE_LATEST)
