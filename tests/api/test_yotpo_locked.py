"""Yotpo's 423: an account whose row lock another change holds longer than the server waits
(PostgreSQL's lock_timeout) is refused with ACCOUNT_LOCKED, and nothing is written."""

import json
import threading

import pytest
from django.db import connection, connections, transaction
from django.test import Client

from accounts.models import LoyaltyAccount
from ledger import services
from tests.conftest import postgres_only
from tests.factories import AccountFactory

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


def test_the_server_waits_for_a_row_lock_for_the_configured_time(settings):
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        (shown,) = cursor.fetchone()
    assert shown == f"{int(settings.LOCK_TIMEOUT_SECONDS)}s"


def test_an_account_locked_longer_than_the_server_waits_is_a_423(program, writer_key):
    account = AccountFactory(program=program, customer_id="Y-1")
    services.adjust_points(
        account=account, points=100, actor=services.Actor.system(), reason_text="seed"
    )
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        try:
            with transaction.atomic():
                LoyaltyAccount.objects.select_for_update().get(pk=account.pk)
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert locked.wait(5)
    client = Client(headers={"x-api-key": writer_key[1]})
    body = json.dumps({"customer_id": "Y-1", "point_adjustment_amount": -10})
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '200ms'")
    try:
        refused = client.post("/api/v2/points/adjust", body, content_type="application/json")
    finally:
        release.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout TO DEFAULT")

    assert refused.status_code == 423
    assert refused.json() == {
        "errors": [
            {
                "code": "ACCOUNT_LOCKED",
                "message": "Another change to this customer's points is still in progress; "
                "try again in a moment.",
            }
        ]
    }
    account.refresh_from_db()
    assert account.balance == 100 and account.events.count() == 1

    retried = client.post("/api/v2/points/adjust", body, content_type="application/json")
    assert retried.status_code == 200
    assert retried.json()["points_balance"] == 90
