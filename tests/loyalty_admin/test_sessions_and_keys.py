"""Deactivation ends sessions for good; command-line keys are audited; a recognised but
refused key still gets its RateLimit headers."""

import pytest
from django.core.management import call_command
from django.test import Client

from loyalty_admin.models import ApiClient, AuditEntry
from loyalty_admin.services import set_operator_active
from tests.api.conftest import bearer
from tests.factories import api_client, operator

pytestmark = pytest.mark.django_db


def test_deactivating_ends_every_session_and_reactivating_revives_none(manager):
    agent = operator("agent")
    browsers = [Client(), Client()]
    for browser in browsers:
        browser.force_login(agent)
        assert browser.get("/").status_code == 200
    bystander = Client()
    bystander.force_login(operator("agent"))

    set_operator_active(operator=agent, active=False, by=manager)
    set_operator_active(operator=agent, active=True, by=manager)

    for browser in browsers:
        response = browser.get("/")
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")
    assert bystander.get("/").status_code == 200


def test_a_deactivated_operator_is_shut_out_at_once(manager):
    agent = operator("agent")
    browser = Client()
    browser.force_login(agent)

    manager_browser = Client()
    manager_browser.force_login(manager)
    manager_browser.post(f"/people/{agent.pk}/active", {"active": "0"})

    assert browser.get("/").status_code == 302


def test_an_api_client_created_on_the_command_line_is_audited(capsys):
    call_command("create_api_client", "warehouse", scopes="read", rate="60/min")

    client = ApiClient.objects.get(name="warehouse")
    entry = AuditEntry.objects.get(action="api_client.created")
    assert entry.actor is None and entry.api_client is None
    assert entry.details["via"] == "command line"
    assert entry.target_id == str(client.pk)
    assert entry.details["prefix"] == client.prefix
    assert "Key (shown once)" in capsys.readouterr().out


def test_the_audit_page_shows_the_command_line_as_actor(manager):
    call_command("create_api_client", "warehouse")
    browser = Client()
    browser.force_login(manager)

    page = browser.get("/audit/").content.decode()

    assert "Command line" in page


def test_a_revoked_key_gets_ratelimit_headers_on_its_401(program):
    client, key = api_client("old", "read,write", rate=7)
    client.revoked = True
    client.save()

    response = bearer(key).get("/api/v1/reasons")

    assert response.status_code == 401
    assert response["RateLimit-Limit"] == "7"
    assert response["RateLimit-Remaining"] == "6"
    assert int(response["RateLimit-Reset"]) >= 1


def test_a_key_without_the_scope_gets_ratelimit_headers_on_its_403(program, account):
    _, key = api_client("reader", "read", rate=9)

    response = bearer(key).post(
        f"/api/v1/accounts/{account.id}/adjustments",
        {"reason": "REWARD", "points": 1},
        "json",
        HTTP_IDEMPOTENCY_KEY="k",
    )

    assert response.status_code == 403
    assert response["RateLimit-Limit"] == "9"


def test_an_unknown_key_gets_no_ratelimit_headers(program):
    client, key = api_client("real", "read", rate=9)
    forged = key.split(".")[0] + ".not-the-secret"

    response = bearer(forged).get("/api/v1/reasons")

    assert response.status_code == 401
    assert "RateLimit-Limit" not in response
