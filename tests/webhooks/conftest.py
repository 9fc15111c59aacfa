import pytest

from ledger.services import Actor, webhooks


@pytest.fixture
def subscription(receiver, manager):
    return webhooks.create_subscription(
        name="Receiver",
        notification_url=receiver.url,
        event_types=list(webhooks.EVENT_TYPES),
        actor=Actor.of_operator(manager),
    )
