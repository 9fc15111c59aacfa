"""GET /metrics: only for allowed networks or the token, and the ledger's counters move."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import Program
from ledger.models import BulkBatch
from ledger.services import Actor, adjust_points, apply_batch, upload_bulk_file
from tests.api.conftest import bearer
from tests.factories import api_client

pytestmark = pytest.mark.django_db


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def adjust_url(account) -> str:
    return f"/api/v1/accounts/{account.id}/adjustments"


def test_it_counts_requests_adjustments_refusals_and_rate_limits(
    client, account, reasons, agent, django_capture_on_commit_callbacks
):
    before = scrape(client)
    _, key = api_client("shop", "read,write", rate=3)
    api = bearer(key)
    body = {"reason": "REWARD", "points": 25}

    with django_capture_on_commit_callbacks(execute=True):
        assert (
            api.post(adjust_url(account), body, "json", HTTP_IDEMPOTENCY_KEY="a").status_code == 201
        )
        wrong_sign = {"reason": "REWARD", "points": -1000}
        refused = api.post(adjust_url(account), wrong_sign, "json", HTTP_IDEMPOTENCY_KEY="b")
        assert refused.status_code == 400, refused.json()
        assert api.get("/api/v1/reasons").status_code == 200
        assert api.get("/api/v1/reasons").status_code == 429
    Program.objects.filter(pk=account.program_id).update(approval_threshold=1)
    adjust_points(
        account=account, points=5, reason=reasons["REWARD"], actor=Actor.of_operator(agent)
    )

    after = scrape(client)
    adjusted = {"face": "NATIVE_API", "type": "ADJUST_POINTS", "reason": "REWARD"}
    assert value(after, "loyalty_adjustments_total", **adjusted) == (
        value(before, "loyalty_adjustments_total", **adjusted) + 1
    )
    refused = {"face": "NATIVE_API", "code": "REASON_SIGN_MISMATCH"}
    assert value(after, "loyalty_refusals_total", **refused) == (
        value(before, "loyalty_refusals_total", **refused) + 1
    )
    assert value(after, "loyalty_rate_limit_refusals_total") == (
        value(before, "loyalty_rate_limit_refusals_total") + 1
    )
    assert value(after, "loyalty_approvals_pending") == 1
    # django-prometheus: requests and latency per view, and responses by status.
    view = {"view": "api-adjustments", "method": "POST"}
    assert value(after, "django_http_requests_latency_seconds_by_view_method_count", **view) >= (
        value(before, "django_http_requests_latency_seconds_by_view_method_count", **view) + 2
    )
    by_status = {"view": "api-adjustments", "method": "POST", "status": "400"}
    assert value(after, "django_http_responses_total_by_status_view_method_total", **by_status) == (
        value(before, "django_http_responses_total_by_status_view_method_total", **by_status) + 1
    )


def test_it_counts_bulk_rows_and_batches_by_status(
    client, account, reasons, manager, django_capture_on_commit_callbacks
):
    before = scrape(client)
    content = f"email,points,reason\n{account.email},10,REWARD\n{account.email},5,REWARD\n"
    actor = Actor.of_operator(manager, source="BULK_IMPORT")
    batch, _ = upload_bulk_file(
        program=account.program, actor=actor, filename="f.csv", data=content.encode()
    )

    with django_capture_on_commit_callbacks(execute=True):
        apply_batch(batch=batch)

    after = scrape(client)
    rows = "loyalty_bulk_rows_applied_total"
    assert value(after, rows) == value(before, rows) + 2
    assert value(after, "loyalty_bulk_batches", status="applied") == 1
    assert BulkBatch.objects.get().status == BulkBatch.Status.APPLIED


def test_other_networks_get_404(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]

    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_a_token_opens_it_from_anywhere(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.METRICS_TOKEN = "s3cret-token"

    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


def test_it_refuses_post(client):
    assert client.post("/metrics").status_code == 405


def test_metrics_and_request_logs_add_no_sql_to_an_adjustment(account, reasons, settings):
    # Counters move in memory and gauges are read at scrape time: the observability layer
    # must not add a statement to the hot path.
    _, key = api_client("shop", "read,write", rate=1000)
    api = bearer(key)

    def statements() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = api.post(
                adjust_url(account),
                {"reason": "REWARD", "points": 1},
                "json",
                HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
            )
        assert response.status_code == 201
        return len(queries)

    statements()  # the first request fills the per-process caches of keys and reasons
    with_observability = statements()
    settings.MIDDLEWARE = [
        m
        for m in settings.MIDDLEWARE
        if not m.startswith(("django_prometheus", "django_structlog", "loyalty_admin.request"))
    ]
    assert with_observability == statements()
