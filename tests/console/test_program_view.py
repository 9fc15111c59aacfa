from datetime import timedelta

import pytest
from django.utils import timezone

from ledger import services

URL = "/program/"


def test_it_shows_the_settings_to_a_manager(manager_client, program):
    response = manager_client.get(URL)

    assert response.status_code == 200
    assert b"Points expire after" in response.content


def test_it_saves_threshold_policy_and_terminology(manager_client, program):
    response = manager_client.post(
        URL,
        {
            "name": "Coffee Club",
            "terminology_one": "Star",
            "terminology_other": "Stars",
            "approval_threshold": "250",
            "expiration_policy": "p6m",
        },
    )

    assert response.status_code == 302
    program.refresh_from_db()
    assert (program.name, program.terminology_other) == ("Coffee Club", "Stars")
    assert (program.approval_threshold, program.expiration_policy) == (250, "P6M")


@pytest.mark.parametrize(
    ("policy", "message"),
    [("12 months", "Write a duration like P12M"), ("PT1M", "at least an hour")],
)
def test_it_refuses_a_bad_expiration_policy(manager_client, program, policy, message):
    response = manager_client.post(
        URL,
        {
            "name": "X",
            "terminology_one": "Point",
            "terminology_other": "Points",
            "expiration_policy": policy,
        },
    )

    assert response.status_code == 422
    assert message in response.content.decode()
    program.refresh_from_db()
    assert (program.name, program.expiration_policy) == ("Loyalty program", "")


def test_agents_cannot_change_settings(agent_client, program):
    assert agent_client.get(URL).status_code == 403
    response = agent_client.post(
        URL, {"name": "Mine", "terminology_one": "P", "terminology_other": "Ps"}
    )
    assert response.status_code == 403
    program.refresh_from_db()
    assert program.name == "Loyalty program"


def test_anonymous_is_sent_to_log_in(client, program):
    assert client.get(URL)["Location"].startswith("/login/")


def test_the_account_page_shows_points_that_will_expire(
    agent_client, program, account, reasons, manager
):
    program.expiration_policy = "P30D"
    program.save()
    services.adjust_points(
        account=account,
        points=120,
        reason=reasons["REWARD"],
        actor=services.Actor.of_operator(manager),
    )
    deadline = timezone.now() + timedelta(days=30)

    response = agent_client.get(f"/accounts/{account.pk}/")

    page = response.content.decode()
    assert "Expiring" in page
    assert f'<strong>120</strong> on <time datetime="{deadline:%Y-%m-%d}' in page
