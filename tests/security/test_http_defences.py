"""Defences at the HTTP edge: CSRF, CSP, clickjacking, cookies, login lockout, deactivated
operators, API keys stored only as hashes."""

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, AccountFactory

from .test_permission_matrix import _is_api, url_patterns

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


# --- CSRF -----------------------------------------------------------------------------------


def console_paths(account, reason) -> list[str]:
    values = {
        "account_id": str(account.pk),
        "reason_id": str(reason.pk),
        "batch_id": "00000000-0000-0000-0000-000000000000",
        "event_id": "00000000-0000-0000-0000-000000000000",
        "approval_id": "00000000-0000-0000-0000-000000000000",
        "operator_id": "1",
        "prefix": "nokey123",
        "subscription_id": "wbhk_0",
        "notification_id": "1",
    }
    paths = []
    for route, pattern in url_patterns():
        if _is_api(route) or pattern.name == "health":
            continue
        path = "/" + route
        for name in pattern.pattern.converters:
            path = re.sub(rf"<(\w+:)?{name}>", values[name], path)
        paths.append(path)
    return paths


def test_every_console_post_without_a_csrf_token_is_refused(manager, account, reasons):
    """Every console URL, whether or not it takes POST: the token is checked before the view."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    paths = console_paths(account, reasons["REWARD"])
    assert len(paths) >= 12
    for path in paths:
        response = client.post(path, {"amount": "5", "reason": reasons["REWARD"].pk})
        assert response.status_code == 403, path
        assert "CSRF" in response.text, path
    assert account.events.count() == 0


def test_a_state_changing_console_post_with_the_token_gets_through(agent, account, reasons):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    client.get(reverse("account", args=[account.pk]))
    token = client.cookies["csrftoken"].value

    response = client.post(
        reverse("adjustment-preview", args=[account.pk]),
        {"amount": "5", "reason": reasons["REWARD"].pk, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 200


def test_the_native_api_refuses_a_session_post_without_the_csrf_token(agent, account):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)

    response = client.post(
        f"/api/v1/accounts/{account.pk}/adjustments",
        {"reason": "REWARD", "points": 5},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="csrf-1",
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["errors"][0]["message"]
    assert account.events.count() == 0


# --- Content-Security-Policy and framing ----------------------------------------------------

EXPECTED_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'self'",
    "object-src": "'none'",
}


def csp_of(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


@pytest.mark.parametrize("path", ["/login/", "/", "/reasons/", "/health", "/api/v1/reasons"])
def test_pages_carry_the_strict_policy_and_refuse_framing(path, manager, program):
    client = Client()
    if path != "/login/":
        client.force_login(manager)
    response = client.get(path)

    assert csp_of(response) == EXPECTED_CSP
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_api_docs_page_relaxes_styles_only_and_has_no_inline_script(client):
    response = client.get("/api/docs/")

    policy = csp_of(response)
    assert policy["style-src"] == "'self' 'unsafe-inline'"
    assert {k: v for k, v in policy.items() if k != "style-src"} == {
        k: v for k, v in EXPECTED_CSP.items() if k != "style-src"
    }
    scripts = re.findall(r"<script([^>]*)>", response.text)
    assert scripts and all("src=" in attrs for attrs in scripts)
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.text


def test_templates_have_no_inline_scripts_styles_or_handlers():
    offences = []
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for pattern in (r"<script(?![^>]*\bsrc=)[^>]*>", r"<style", r"\sstyle=", r"\son\w+="):
            offences += [f"{template.name}: {m}" for m in re.findall(pattern, text)]
    assert offences == []


# --- Cookies in production ------------------------------------------------------------------


def test_production_settings_make_cookies_secure_httponly_and_samesite():
    code = (
        "import json; from django.conf import settings as s; print(json.dumps({k: getattr(s, k) "
        "for k in ['SESSION_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', 'SESSION_COOKIE_SAMESITE',"
        " 'CSRF_COOKIE_SECURE', 'CSRF_COOKIE_SAMESITE', 'X_FRAME_OPTIONS', 'SECURE_SSL_REDIRECT',"
        " 'SECURE_HSTS_SECONDS']}))"
    )
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "x" * 60,
        "DJANGO_SETTINGS_MODULE": "loyalty_admin.settings",
    }
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    values = json.loads(out.strip().splitlines()[-1])
    assert values == {
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_SECURE": True,
        "CSRF_COOKIE_SAMESITE": "Lax",
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
    }


def test_the_session_cookie_is_httponly_and_samesite(agent):
    client = Client()
    client.post(reverse("login"), {"username": agent.email, "password": PASSWORD})
    cookie = client.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


# --- Login brute force ----------------------------------------------------------------------


def login(client: Client, email: str, password: str, ip: str = "10.0.0.1"):
    return client.post(reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=ip)


def test_five_wrong_passwords_lock_the_login_out_even_for_the_right_one(agent):
    client = Client()
    for _ in range(4):
        assert login(client, agent.email, "wrong-password").status_code == 200
    assert login(client, agent.email, "wrong-password").status_code == 429  # the fifth locks

    response = login(client, agent.email, PASSWORD)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert "locked out" in response.text
    # Locked per username and address: the same operator elsewhere, or another operator here,
    # can still log in.
    assert login(Client(), agent.email, PASSWORD, ip="10.0.0.2").status_code == 302
    assert login(Client(), "someone@example.com", "x").status_code == 200


def test_four_wrong_passwords_then_the_right_one_log_in_and_reset_the_count(agent):
    client = Client()
    for _ in range(4):
        login(client, agent.email, "wrong-password")
    assert login(client, agent.email, PASSWORD).status_code == 302
    for _ in range(4):
        login(Client(), agent.email, "wrong-password")
    assert login(Client(), agent.email, PASSWORD).status_code == 302


def test_the_lockout_ignores_the_case_of_the_email(agent):
    for i in range(5):
        email = agent.email.upper() if i % 2 else agent.email
        login(Client(), email, "wrong-password")
    assert login(Client(), agent.email.title(), PASSWORD).status_code == 429


# --- Deactivated operators ------------------------------------------------------------------


def test_a_deactivated_operator_loses_the_console_and_the_api_on_the_next_request(agent, account):
    client = Client()
    client.force_login(agent)
    assert client.get(reverse("account", args=[account.pk])).status_code == 200
    assert client.get(f"/api/v1/accounts/{account.pk}").status_code == 200

    agent.is_active = False
    agent.save(update_fields=["is_active"])

    page = client.get(reverse("account", args=[account.pk]))
    assert page.status_code == 302 and page["Location"].startswith("/login/")
    assert client.get(f"/api/v1/accounts/{account.pk}").status_code in (401, 403)
    preview = client.post(
        reverse("adjustment-preview", args=[account.pk]), {"amount": "5"}, HTTP_HX_REQUEST="true"
    )
    assert "HX-Redirect" in preview
    assert account.events.count() == 0


def test_an_operator_who_loses_their_role_loses_the_console(agent, account):
    client = Client()
    client.force_login(agent)
    agent.groups.clear()

    assert client.get(reverse("account", args=[account.pk])).status_code == 403
    assert client.get(f"/api/v1/accounts/{account.pk}").status_code == 403


# --- Secrets --------------------------------------------------------------------------------


def test_the_plain_key_is_nowhere_in_the_api_client_table_or_the_logs(capsys, caplog, program):
    caplog.set_level(logging.DEBUG)
    call_command("create_api_client", "Leak check", scopes="read,write")
    key = capsys.readouterr().out.split("Key (shown once): ")[1].strip()
    prefix, secret = key.split(".", 1)
    account = AccountFactory(program=program)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get(f"/api/v1/accounts/{account.pk}").status_code == 200
    assert Client(HTTP_AUTHORIZATION=f"Bearer {prefix}.wrong").get("/api/v1/reasons").status_code

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM loyalty_admin_apiclient")
        stored = " ".join(str(value) for row in cursor.fetchall() for value in row)
    assert secret not in stored and key not in stored
    assert secret not in caplog.text


def test_no_secrets_are_committed():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    suspicious = re.compile(
        r"(-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|sk_live_[0-9a-zA-Z]{10,}"
        r"|SECRET_KEY\s*=\s*['\"](?!dev-only)[^'\"]{20,})"
    )
    found = []
    for name in tracked:
        path = ROOT / name
        if path.suffix in {".png", ".lock", ".ico", ".woff2"} or not path.is_file():
            continue
        if suspicious.search(path.read_text(errors="ignore")):
            found.append(name)
    assert found == []
    assert not any(n.endswith((".env", ".sqlite3", "demo-operators.txt")) for n in tracked)
