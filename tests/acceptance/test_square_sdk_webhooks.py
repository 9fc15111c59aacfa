"""The official `squareup` SDK manages webhook subscriptions on a live server, and its own
`verify_signature` accepts what the server sends."""

import pytest
from square.core.api_error import ApiError
from square.utils.webhooks_helper import verify_signature

from ledger.services import webhook_delivery
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_sdk_flow(square, program, receiver):
    account = AccountFactory(program=program)
    types = square.webhooks.event_types.list().event_types
    assert "loyalty.event.created" in types and "loyalty.account.updated" in types

    created = square.webhooks.subscriptions.create(
        subscription={
            "name": "POS",
            "event_types": ["loyalty.event.created", "loyalty.account.updated"],
            "notification_url": receiver.url,
        },
        idempotency_key="sub-1",
    ).subscription
    assert created.id.startswith("wbhk_") and created.enabled and created.signature_key
    replayed = square.webhooks.subscriptions.create(
        subscription={
            "name": "POS",
            "event_types": ["loyalty.event.created", "loyalty.account.updated"],
            "notification_url": receiver.url,
        },
        idempotency_key="sub-1",
    ).subscription
    assert replayed.id == created.id
    key = created.signature_key

    square.loyalty.accounts.adjust(
        account_id=str(account.pk), adjust_points={"points": 40}, idempotency_key="adj-1"
    )
    assert webhook_delivery.deliver_due(subscription_id=created.id) == 2
    for received in receiver.received:
        assert verify_signature(
            request_body=received.body,
            signature_header=received.headers["x-square-hmacsha256-signature"],
            signature_key=key,
            notification_url=receiver.url,
        )
    [updated] = receiver.of_type("loyalty.account.updated")
    assert updated["data"]["object"]["loyalty_account"]["balance"] == 40

    listed = list(square.webhooks.subscriptions.list())
    assert [s.id for s in listed] == [created.id]
    assert listed[0].signature_key is None  # shown once

    changed = square.webhooks.subscriptions.update(
        subscription_id=created.id, subscription={"name": "Till", "enabled": False}
    ).subscription
    assert (changed.name, changed.enabled) == ("Till", False)
    assert list(square.webhooks.subscriptions.list()) == []
    assert len(list(square.webhooks.subscriptions.list(include_disabled=True))) == 1

    rotated = square.webhooks.subscriptions.update_signature_key(
        subscription_id=created.id, idempotency_key="rot-1"
    ).signature_key
    assert rotated and rotated != key

    square.webhooks.subscriptions.update(subscription_id=created.id, subscription={"enabled": True})
    tested = square.webhooks.subscriptions.test(
        subscription_id=created.id, event_type="loyalty.account.updated"
    ).subscription_test_result
    assert tested.status_code == 200
    last = receiver.received[-1]
    assert verify_signature(
        request_body=last.body,
        signature_header=last.headers["x-square-hmacsha256-signature"],
        signature_key=rotated,
        notification_url=receiver.url,
    )

    square.webhooks.subscriptions.delete(subscription_id=created.id)
    with pytest.raises(ApiError) as gone:
        square.webhooks.subscriptions.get(subscription_id=created.id)
    assert gone.value.status_code == 404


def test_the_sdk_sees_refusals_in_square_errors(square):
    with pytest.raises(ApiError) as refused:
        square.webhooks.subscriptions.create(
            subscription={"event_types": ["loyalty.event.created"], "notification_url": "ftp://x"},
            request_options={"max_retries": 0},
        )
    assert refused.value.status_code == 400
    assert refused.value.body["errors"][0]["field"] == "subscription.notification_url"
    with pytest.raises(ApiError) as unknown:
        square.webhooks.subscriptions.create(
            subscription={
                "event_types": ["payment.created"],
                "notification_url": "http://127.0.0.1:9/",
            },
            request_options={"max_retries": 0},
        )
    assert unknown.value.body["errors"][0]["code"] == "INVALID_VALUE"
    assert unknown.value.body["errors"][0]["field"] == "subscription.event_types"
