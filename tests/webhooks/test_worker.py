"""The job worker (`manage.py db_worker`, as `make run` starts it) delivers notifications, and
one killed in the middle of a delivery loses nothing: the notification goes again, with the
same event_id, once its hold runs out."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection

from ledger import services
from ledger.models import WebhookNotification
from ledger.services import Actor, webhook_delivery
from tests.conftest import postgres_only

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


def start_worker() -> subprocess.Popen:
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
        ),
        "WEBHOOK_REFUSED_NETWORKS": "0.0.0.0/0,::/0",
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--no-reload", "--no-startup-delay", "-v0"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_the_worker_delivers_and_a_killed_one_loses_nothing(
    receiver, subscription, account, reasons, manager
):
    receiver.delay = 60  # the receiver holds the first request: the worker is mid-delivery
    services.adjust_points(
        account=account, points=7, reason=reasons["REWARD"], actor=Actor.of_operator(manager)
    )
    worker = start_worker()
    try:
        assert receiver.arrived.wait(30)
        held = WebhookNotification.objects.get(held_until__isnull=False)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert held.status == WebhookNotification.Status.PENDING and held.attempts == 0

    receiver.delay = 0
    with time_machine.travel(held.held_until + timedelta(seconds=1)):
        webhook_delivery.deliver_due(subscription_id=subscription.pk)
    assert receiver.received[0].payload["event_id"] == str(held.event_id)
    assert WebhookNotification.objects.filter(status="DELIVERED").count() == 2

    # And a worker delivers the next change on its own.
    services.adjust_points(
        account=account, points=8, reason=reasons["REWARD"], actor=Actor.of_operator(manager)
    )
    worker = start_worker()
    try:
        wait_for(lambda: len(receiver.received) == 4)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert (
        receiver.of_type("loyalty.account.updated")[-1]["data"]["object"]["loyalty_account"][
            "balance"
        ]
        == 15
    )
