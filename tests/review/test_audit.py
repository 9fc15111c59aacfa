import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse

from loyalty_admin import audit
from loyalty_admin.models import AuditEntry
from tests.factories import PASSWORD

from ..conftest import postgres_only
from .conftest import HX

pytestmark = pytest.mark.django_db


def test_it_records_logins_and_failed_logins_with_the_address(agent):
    client = Client(REMOTE_ADDR="203.0.113.9")

    refused = client.post(reverse("login"), {"username": agent.email, "password": "wrong"})
    client.post(reverse("login"), {"username": agent.email, "password": PASSWORD})

    failed, login = AuditEntry.objects.order_by("created_at", "id")
    assert (failed.action, failed.actor, failed.ip_address) == ("login_failed", None, "203.0.113.9")
    assert failed.details == {"username": agent.email, "request_id": refused["X-Request-ID"]}
    assert "wrong" not in str(failed.details)
    assert (login.action, login.actor, login.ip_address) == ("login", agent, "203.0.113.9")


def test_it_records_reason_changes_with_who_and_where(manager_client, manager, reasons):
    reward = reasons["REWARD"]
    manager_client.post(
        reverse("reason-change", args=[reward.pk]),
        {f"reason-{reward.pk}-label": "Goodwill", f"reason-{reward.pk}-affects_lifetime": "on"},
    )
    manager_client.post(reverse("reason-active", args=[reward.pk]), {"active": "0"})

    changed, deactivated = AuditEntry.objects.filter(action__startswith="reason.").order_by(
        "created_at", "id"
    )
    assert (changed.action, changed.actor, changed.ip_address) == (
        "reason.changed",
        manager,
        "127.0.0.1",
    )
    assert changed.details["before"]["label"] == "Reward customer"
    assert changed.details["after"]["label"] == "Goodwill"
    assert (changed.target_type, changed.target_id) == ("ledger.Reason", str(reward.pk))
    assert deactivated.action == "reason.deactivated"


def test_it_lists_and_filters_entries(manager_client, manager, agent):
    # Logging the test client in has already recorded the manager's login.
    audit.record(action="login", actor=agent, summary="agent in", ip="10.0.0.1")
    audit.record(action="reason.added", actor=manager, summary="added X", ip="10.0.0.2")

    everything = manager_client.get(reverse("audit"))
    logins = manager_client.get(reverse("audit") + "?action=login", **HX)
    by_agent = manager_client.get(reverse("audit") + f"?actor={agent.pk}")

    assert everything.status_code == 200
    assert everything.text.count('<tr id="audit-') == 3
    assert "10.0.0.2" in everything.text
    assert "10.0.0.1" in everything.text and agent.email in everything.text
    assert logins.text.strip().startswith('<section id="audit-entries"')
    assert logins.text.count('<tr id="audit-') == 2
    assert [e.summary for e in by_agent.context["log"].items] == ["agent in"]


def test_it_pages_the_log_by_keyset(manager_client, manager):
    for n in range(60):
        audit.record(action="reason.added", actor=manager, summary=f"added {n}")

    first = manager_client.get(reverse("audit") + "?action=reason.added")
    cursor = first.context["log"].next_cursor
    second = manager_client.get(reverse("audit") + f"?action=reason.added&cursor={cursor}")

    seen = [e.pk for e in first.context["log"].items + second.context["log"].items]
    assert len(seen) == len(set(seen)) == 60
    assert "action=reason.added&amp;cursor=" in first.text


@pytest.mark.parametrize(
    "sql",
    ["UPDATE {table} SET summary = 'edited'", "DELETE FROM {table}"],
)
def test_the_database_refuses_to_change_an_entry(manager, sql):
    entry = audit.record(action="login", actor=manager, summary="in")
    table = connection.ops.quote_name(AuditEntry._meta.db_table)

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql.format(table=table))

    entry.refresh_from_db()
    assert entry.summary == "in"


@postgres_only
def test_the_database_refuses_to_truncate_the_log(manager):
    audit.record(action="login", actor=manager, summary="in")
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {table}")
    assert AuditEntry.objects.count() == 1
