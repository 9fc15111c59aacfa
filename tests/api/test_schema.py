"""The OpenAPI schema, its docs page, and Schemathesis fuzzing every operation in-process."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ledger import services
from tests.factories import AccountFactory, api_client


def test_the_schema_lists_all_three_surfaces(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/accounts/{account_id}/adjustments" in paths
    assert "/v2/loyalty/accounts/{account_id}/adjust" in paths
    assert "/api/v2/points/adjust" in paths


def test_the_docs_page_works_offline(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html


@pytest.fixture
def fuzz_headers(program):
    account = AccountFactory(program=program)
    services.adjust_points(
        account=account, points=10, actor=services.Actor.system(), reason_text="seed"
    )
    _, key = api_client("schemathesis", "read,write", rate=1_000_000)
    return {"Authorization": f"Bearer {key}", "x-api-key": key}


# Generating the schema touches no database, so it can be loaded when the module is collected.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture
def keep_test_connection():
    """Like Django's test client: the WSGI app must not close the test's database connection
    at the end of each request (the test's transaction lives on it)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_conforms_to_its_schema_and_never_errors(case, fuzz_headers, keep_test_connection):
    response = case.call(headers=fuzz_headers)
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
