"""The per-process caches of API keys and reasons: what they forget at once, and the bound
within which a change made elsewhere (another process: here, a write that bypasses the
services) takes effect."""

import time

import pytest
from django.test import override_settings

from ledger.models import Reason
from ledger.services import Actor, set_reason_active
from loyalty_admin.models import ApiClient
from loyalty_admin.services import revoke_api_client

from .conftest import bearer

pytestmark = pytest.mark.django_db

BOUND = 0.5


def adjust(api, account, key: str, reason: str = "REWARD"):
    return api.post(
        f"/api/v1/accounts/{account.pk}/adjustments",
        {"reason": reason, "points": 5},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_a_key_revoked_here_is_refused_at_once(writer_key, account, reasons):
    api = bearer(writer_key[1])
    assert adjust(api, account, "a").status_code == 201

    revoke_api_client(client=writer_key[0])

    assert adjust(api, account, "b").status_code == 401


@override_settings(API_KEY_CACHE_SECONDS=BOUND)
def test_a_key_revoked_by_another_process_is_refused_within_the_bound(writer_key, account, reasons):
    api = bearer(writer_key[1])
    assert adjust(api, account, "a").status_code == 201

    ApiClient.objects.filter(pk=writer_key[0].pk).update(revoked=True)  # not through this process
    revoked_at = time.monotonic()
    while adjust(api, account, f"k{time.monotonic()}").status_code != 401:
        assert time.monotonic() - revoked_at < BOUND + 0.5, "still accepted after the bound"
        time.sleep(0.05)

    assert adjust(api, account, "after").status_code == 401


def test_a_reason_deactivated_here_is_refused_at_once(api, account, reasons, manager):
    assert adjust(api, account, "a").status_code == 201

    set_reason_active(reason=reasons["REWARD"], active=False, actor=Actor.of_operator(manager))

    response = adjust(api, account, "b")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "REASON_INACTIVE"


@override_settings(REASON_CACHE_SECONDS=BOUND)
def test_a_reason_deactivated_by_another_process_is_refused_within_the_bound(api, account, reasons):
    assert adjust(api, account, "a").status_code == 201

    Reason.objects.filter(pk=reasons["REWARD"].pk).update(active=False)
    changed_at = time.monotonic()
    while adjust(api, account, f"k{time.monotonic()}").status_code != 400:
        assert time.monotonic() - changed_at < BOUND + 0.5, "still accepted after the bound"
        time.sleep(0.05)
