"""One JSON line per request with its request id, the caller, the account and the status;
the same id on every line of the request, in the response, on the event and the audit entry."""

import io
import json
import logging
import os
import subprocess
import sys
import uuid

import pytest

from ledger.models import LoyaltyEvent
from loyalty_admin import request_log
from loyalty_admin.models import AuditEntry
from tests.api.conftest import bearer
from tests.factories import api_client, operator

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_lines():
    """The JSON lines the production formatter writes while the test runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(request_log.formatter(json=True))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def adjust(api, account, points: int, **headers):
    return api.post(
        f"/api/v1/accounts/{account.id}/adjustments",
        {"reason": "REWARD", "points": points},
        "json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        **headers,
    )


def test_an_api_write_is_one_line_with_its_id_caller_account_status_and_duration(
    account, reasons, log_lines
):
    _, key = api_client("shop", "read,write", rate=1000)

    response = adjust(bearer(key), account, 25)

    assert response.status_code == 201
    request_id = response["X-Request-ID"]
    assert uuid.UUID(request_id)
    finished = [line for line in log_lines() if line["event"] == "request_finished"]
    assert len(finished) == 1
    line = finished[0]
    assert line["request_id"] == request_id
    assert line["code"] == 201
    assert line["api_client"] == "shop"
    assert line["account"] == str(account.pk)
    assert line["duration_ms"] >= 0
    assert line["request"] == f"POST /api/v1/accounts/{account.id}/adjustments"
    assert not any(line["event"] == "request_started" for line in log_lines())
    assert LoyaltyEvent.objects.get(account=account).request_id == request_id


def test_every_line_of_a_request_carries_its_id(account, reasons, log_lines):
    _, key = api_client("shop", "read,write", rate=1000)

    response = adjust(bearer(key), account, -5)  # a refusal: Django logs "Bad Request" too

    assert response.status_code == 400
    lines = log_lines()
    assert {line["logger"] for line in lines} >= {
        "django.request",
        "django_structlog.middlewares.request",
    }
    assert {line["request_id"] for line in lines} == {response["X-Request-ID"]}


def test_a_trusted_proxys_request_id_is_kept_and_anyone_elses_replaced(
    account, reasons, settings, log_lines
):
    _, key = api_client("shop", "read,write", rate=1000)
    api = bearer(key)

    untrusted = adjust(api, account, 1, HTTP_X_REQUEST_ID="from-the-client")
    settings.TRUSTED_PROXIES = ["127.0.0.0/8"]
    trusted = adjust(api, account, 1, HTTP_X_REQUEST_ID="lb-1234")
    malformed = adjust(api, account, 1, HTTP_X_REQUEST_ID="bad id\nwith newline")

    assert untrusted["X-Request-ID"] != "from-the-client"
    assert trusted["X-Request-ID"] == "lb-1234"
    assert malformed["X-Request-ID"] != "bad id\nwith newline"
    ids = [line["request_id"] for line in log_lines() if line["event"] == "request_finished"]
    assert ids == [untrusted["X-Request-ID"], "lb-1234", malformed["X-Request-ID"]]
    assert LoyaltyEvent.objects.filter(request_id="lb-1234").count() == 1


def test_a_console_action_names_the_operator_and_stamps_the_audit_entry(client, log_lines):
    manager = operator("manager", username="boss@example.com", email="boss@example.com")
    agent = operator("agent")
    client.force_login(manager)

    response = client.post(f"/people/{agent.pk}/active", {"active": "0"})

    assert response.status_code in (200, 302)
    request_id = response["X-Request-ID"]
    line = next(line for line in log_lines() if line["event"] == "request_finished")
    assert line["operator"] == "boss@example.com"
    assert line["request_id"] == request_id
    entry = AuditEntry.objects.get(action="operator.deactivated")
    assert entry.details["request_id"] == request_id


@pytest.mark.parametrize(
    ("environment", "expected"),
    [({}, "console"), ({"DEBUG": "0", "SECRET_KEY": "k" * 50}, "json")],
)
def test_logs_are_human_readable_under_make_run_and_json_in_production(environment, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "LOG_FORMAT")}
    code = "from django.conf import settings; print(settings.LOG_FORMAT)"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == expected
