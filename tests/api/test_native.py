"""Native API /api/v1/: each action, scopes and roles, idempotency, cursors, sessions."""

import json
from datetime import UTC

import pytest
from django.utils.crypto import get_random_string
from rest_framework.test import APIClient

from ledger import services
from ledger.models import LoyaltyEvent
from loyalty_admin.services import revoke_api_client
from tests.factories import AccountFactory

from .conftest import bearer

Source = LoyaltyEvent.Source


def adjust_url(account) -> str:
    return f"/api/v1/accounts/{account.id}/adjustments"


def give(account, points, **kwargs):
    return services.adjust_points(
        account=account, points=points, actor=services.Actor.system(), reason_text="seed", **kwargs
    ).event


# --- reads ----------------------------------------------------------------------------------


def test_it_searches_customers_by_email_prefix(api, program):
    match = AccountFactory(program=program, email="ada@example.com")
    AccountFactory(program=program, email="bob@example.com")

    response = api.get("/api/v1/accounts", {"q": "ADA@"})

    assert response.status_code == 200
    assert [a["id"] for a in response.json()["accounts"]] == [str(match.id)]
    assert response["RateLimit-Limit"] == "1000"


def test_search_needs_q(api, program):
    response = api.get("/api/v1/accounts")
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"code": "REQUIRED", "message": "This field is required.", "field": "q"}]
    }


def test_it_shows_one_account_and_404s_unknown_or_malformed_ids(api, account):
    response = api.get(f"/api/v1/accounts/{account.id}")
    assert response.status_code == 200
    assert response.json()["email"] == account.email
    assert response.json()["balance"] == 0

    for bad in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        response = api.get(f"/api/v1/accounts/{bad}")
        assert response.status_code == 404
        assert response.json()["errors"][0]["code"] == "NOT_FOUND"


def test_it_lists_reasons(api, reasons):
    response = api.get("/api/v1/reasons")
    assert response.status_code == 200
    codes = [r["code"] for r in response.json()["reasons"]]
    assert codes == ["REWARD", "REFUND_DEDUCTED", "REDEEM_DISCOUNT", "REMOVE_EARNED", "EXPIRE_NOW"]
    assert response.json()["reasons"][2]["sign"] == "-"


# --- preview and adjust ---------------------------------------------------------------------


def test_preview_answers_from_the_ledger_and_writes_nothing(api, account, reasons):
    give(account, 10)

    response = api.post(
        f"{adjust_url(account)}/preview", {"reason": "REDEEM_DISCOUNT", "points": -15}, "json"
    )

    assert response.status_code == 200
    assert response.json() == {
        "balance_before": 10,
        "balance_after": -5,
        "lifetime_before": 10,
        "lifetime_after": 10,
        "allowed": False,
        "needs_approval": False,
        "verdict": "refuse",
        "problems": [
            {
                "code": "INSUFFICIENT_POINTS",
                "message": "The customer has 10 points; removing 15 would leave -5.",
            }
        ],
    }
    assert LoyaltyEvent.objects.filter(account=account).count() == 1


def test_it_adjusts_once_per_idempotency_key(api, account, reasons, writer_key):
    body = {"reason": "REWARD", "points": 25, "note": "goodwill", "history_title": "Thanks"}

    first = api.post(adjust_url(account), body, "json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post(adjust_url(account), body, "json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == 201
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    account.refresh_from_db()
    assert (account.balance, account.lifetime_points) == (25, 25)
    event = LoyaltyEvent.objects.get(account=account)
    assert event.source == Source.NATIVE_API
    assert event.api_client == writer_key[0]
    assert event.actor is None
    assert (event.history_title, event.note) == ("Thanks", "goodwill")


def test_a_reused_key_with_another_body_is_refused(api, account, reasons):
    api.post(
        adjust_url(account), {"reason": "REWARD", "points": 5}, "json", HTTP_IDEMPOTENCY_KEY="k"
    )

    response = api.post(
        adjust_url(account), {"reason": "REWARD", "points": 6}, "json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    account.refresh_from_db()
    assert account.balance == 5


def test_adjust_requires_an_idempotency_key(api, account, reasons):
    response = api.post(adjust_url(account), {"reason": "REWARD", "points": 5}, "json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


def test_an_overdraft_is_refused_with_the_consoles_message(api, account, reasons):
    give(account, 3)

    response = api.post(
        adjust_url(account),
        {"reason": "REDEEM_DISCOUNT", "points": -4},
        "json",
        HTTP_IDEMPOTENCY_KEY="x",
    )

    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "code": "INSUFFICIENT_POINTS",
                "message": "The customer has 3 points; removing 4 would leave -1.",
                "field": "points",
            }
        ]
    }
    account.refresh_from_db()
    assert account.balance == 3


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"reason": "REWARD", "points": 2**31}, "points", "INVALID_AMOUNT"),
        ({"reason": "REWARD", "points": "5"}, "points", "EXPECTED_INTEGER"),
        ({"reason": "REWARD", "points": 5.5}, "points", "EXPECTED_INTEGER"),
        ({"reason": "NOPE", "points": 5}, "reason", "REASON_UNKNOWN"),
        ({"reason": "R" * 41, "points": 5}, "reason", "REASON_UNKNOWN"),
        ({"reason": "REWARD", "points": 5, "allow_negative": "yes"}, "allow_negative", None),
        ({"points": 5}, "reason", "REQUIRED"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, account, reasons, body, field, code):
    response = api.post(adjust_url(account), body, "json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == field
    if code:
        assert error["code"] == code
    assert not LoyaltyEvent.objects.exists()


def test_malformed_json_is_a_400(api, account):
    response = api.post(
        adjust_url(account), "{not json", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "PARSE_ERROR"


def test_zero_points_get_the_ledgers_message(api, account, reasons):
    response = api.post(
        adjust_url(account), {"reason": "REWARD", "points": 0}, "json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "code": "INVALID_AMOUNT",
        "message": "Enter a number of points other than zero.",
        "field": "points",
    }


# --- keys and scopes ------------------------------------------------------------------------


def test_a_read_only_key_reads_and_previews_but_cannot_adjust(read_only_api, account, reasons):
    assert read_only_api.get(f"/api/v1/accounts/{account.id}").status_code == 200
    preview = read_only_api.post(
        f"{adjust_url(account)}/preview", {"reason": "REWARD", "points": 1}, "json"
    )
    assert preview.status_code == 200

    response = read_only_api.post(
        adjust_url(account), {"reason": "REWARD", "points": 1}, "json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "PERMISSION_DENIED"
    assert not LoyaltyEvent.objects.exists()


def test_missing_unknown_and_revoked_keys_get_401(writer_key, account):
    url = f"/api/v1/accounts/{account.id}"
    assert APIClient().get(url).status_code == 401
    assert bearer("abcdefgh.wrong").get(url).status_code == 401
    assert bearer(writer_key[1] + "x").get(url).status_code == 401
    api = bearer(writer_key[1])
    assert api.get(url).status_code == 200

    revoke_api_client(client=writer_key[0])

    response = api.get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


# --- history --------------------------------------------------------------------------------


def test_history_pages_have_no_gaps_or_duplicates_while_events_arrive(api, account):
    for _ in range(5):
        give(account, 1)
    seen = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/api/v1/accounts/{account.id}/events", params).json()
        seen += [e["id"] for e in page["events"]]
        give(account, 1)  # a new event arrives between pages: newest first, so not in later pages
        cursor = page["next_cursor"]
        if cursor is None:
            break

    originals = LoyaltyEvent.objects.filter(account=account).order_by("created_at")[:5]
    assert seen == [str(e.id) for e in reversed(list(originals))]


def test_global_history_filters(api, program, reasons):
    first, second = AccountFactory(program=program), AccountFactory(program=program)
    reward = services.adjust_points(
        account=first, points=5, reason=reasons["REWARD"], actor=services.Actor.system()
    ).event
    give(second, 7)

    def ids(**params):
        response = api.get("/api/v1/events", params)
        assert response.status_code == 200, response.json()
        return [e["id"] for e in response.json()["events"]]

    assert ids(account=str(first.id)) == [str(reward.id)]
    assert ids(reason="REWARD") == [str(reward.id)]
    assert len(ids(type="ADJUST_POINTS", source="SYSTEM")) == 2
    assert ids(source="NATIVE_API") == []
    assert ids(created_after=reward.created_at.isoformat(), account=str(first.id)) == [
        str(reward.id)
    ]
    assert ids(created_before=reward.created_at.isoformat(), account=str(first.id)) == []


def test_global_history_refuses_bad_filters(api, db):
    response = api.get("/api/v1/events", {"type": "NOPE", "created_after": "yesterday"})
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"type", "created_after"}
    response = api.get("/api/v1/events", {"cursor": "garbage"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "INVALID_CURSOR"


# --- reverse --------------------------------------------------------------------------------


def test_it_reverses_an_event_once(api, account):
    event = give(account, 8)
    url = f"/api/v1/events/{event.id}/reverse"

    response = api.post(url, {"note": "mistake"}, "json", HTTP_IDEMPOTENCY_KEY="r1")
    replay = api.post(url, {"note": "mistake"}, "json", HTTP_IDEMPOTENCY_KEY="r1")
    twice = api.post(url, {"note": "mistake"}, "json", HTTP_IDEMPOTENCY_KEY="r2")

    assert response.status_code == 201
    assert response.json()["reverses"] == str(event.id)
    assert replay.json()["id"] == response.json()["id"]
    assert twice.status_code == 409
    assert twice.json()["errors"][0]["code"] == "ALREADY_REVERSED"
    account.refresh_from_db()
    assert account.balance == 0


def test_reverse_needs_a_note(api, account):
    event = give(account, 8)
    response = api.post(
        f"/api/v1/events/{event.id}/reverse", {"note": " "}, "json", HTTP_IDEMPOTENCY_KEY="r"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "Say why this event is reversed."


# --- operators' sessions --------------------------------------------------------------------


def session_for(user) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    token = get_random_string(32)
    client.cookies["csrftoken"] = token
    client.defaults["HTTP_X_CSRFTOKEN"] = token
    return client


def test_an_agent_adjusts_as_themselves_with_csrf(agent, account, reasons):
    client = session_for(agent)

    response = client.post(
        adjust_url(account), {"reason": "REWARD", "points": 4}, "json", HTTP_IDEMPOTENCY_KEY="a"
    )

    assert response.status_code == 201
    assert response.json()["actor"] == agent.username
    event = LoyaltyEvent.objects.get(account=account)
    assert (event.actor, event.api_client, event.source) == (agent, None, Source.NATIVE_API)


def test_a_session_without_the_csrf_token_is_refused(agent, account, reasons):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(agent)

    response = client.post(
        adjust_url(account), {"reason": "REWARD", "points": 4}, "json", HTTP_IDEMPOTENCY_KEY="a"
    )

    assert response.status_code == 403
    assert "CSRF" in response.json()["errors"][0]["message"]
    assert not LoyaltyEvent.objects.exists()


def test_agents_may_not_allow_a_negative_balance_nor_reverse(agent, account, reasons):
    client = session_for(agent)
    body = {"reason": "REDEEM_DISCOUNT", "points": -5, "allow_negative": True}

    response = client.post(adjust_url(account), body, "json", HTTP_IDEMPOTENCY_KEY="n")
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "OVERRIDE_NOT_ALLOWED"

    event = give(account, 2)
    response = client.post(
        f"/api/v1/events/{event.id}/reverse", {"note": "x"}, "json", HTTP_IDEMPOTENCY_KEY="r"
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "NOT_ALLOWED"
    account.refresh_from_db()
    assert account.balance == 2


def test_managers_may_allow_a_negative_balance(manager, account, reasons):
    client = session_for(manager)
    body = {"reason": "REDEEM_DISCOUNT", "points": -5, "allow_negative": True}

    response = client.post(adjust_url(account), body, "json", HTTP_IDEMPOTENCY_KEY="n")

    assert response.status_code == 201
    account.refresh_from_db()
    assert account.balance == -5


def test_a_logged_in_non_operator_is_refused(django_user_model, account):
    user = django_user_model.objects.create_user("visitor@example.com", password="x")
    response = session_for(user).get(f"/api/v1/accounts/{account.id}")
    assert response.status_code == 403


def test_the_adjust_response_is_the_event_serializer_s_output(
    api, account, reasons, agent, manager
):
    from rest_framework.renderers import JSONRenderer

    from ledger.api.native.events import EventOutputSerializer, event_output
    from ledger.services import Actor, adjust_points, reverse_event

    made = api.post(
        adjust_url(account), {"reason": "REWARD", "points": 7}, "json", HTTP_IDEMPOTENCY_KEY="o"
    )
    event = LoyaltyEvent.objects.get(pk=made.json()["id"])
    reverse_event(event=event, actor=Actor.of_operator(manager), note="undo")
    by_agent = adjust_points(
        account=account, points=3, reason=reasons["REWARD"], actor=Actor.of_operator(agent)
    ).event

    def as_json(data: dict) -> dict:
        return json.loads(JSONRenderer().render(data))

    for shown in (event, LoyaltyEvent.objects.get(reverses=event), by_agent):
        shown = LoyaltyEvent.objects.get(pk=shown.pk)
        assert as_json(event_output(shown)) == as_json(EventOutputSerializer(shown).data)
    before_reversal = as_json(EventOutputSerializer(event).data) | {"reversed_by": None}
    assert made.json() == before_reversal


def test_account_responses_are_the_account_serializer_s_output(api, program, manager):
    from rest_framework.renderers import JSONRenderer

    from ledger.api.native.accounts import AccountOutputSerializer, account_output
    from ledger.services import Actor, merge_accounts

    survivor = AccountFactory(program=program, email="keep@example.com", phone="+12025550147")
    merged = AccountFactory(program=program, email="gone@example.com", phone=None)
    merge_accounts(source=merged, target=survivor, actor=Actor.of_operator(manager))

    def as_json(data: dict) -> dict:
        return json.loads(JSONRenderer().render(data))

    for account in (survivor, merged):
        account.refresh_from_db()
        expected = as_json(AccountOutputSerializer(account).data)
        assert as_json(account_output(account)) == expected
        assert api.get(f"/api/v1/accounts/{account.pk}").json() == expected
    assert merged.merged_into_id == survivor.pk and merged.closed_at is not None
    found = api.get("/api/v1/accounts", {"q": "keep@"}).json()["accounts"]
    assert found == [as_json(AccountOutputSerializer(survivor).data)]


def test_native_times_are_in_the_server_s_zone_and_square_s_in_utc(
    api, program, account, reasons, settings
):
    from rest_framework.renderers import JSONRenderer

    from ledger.api.native.accounts import AccountOutputSerializer
    from ledger.api.native.events import EventOutputSerializer

    settings.TIME_ZONE = "America/New_York"
    services.adjust_points(
        account=account, points=5, reason=reasons["REWARD"], actor=services.Actor.system()
    )
    account.refresh_from_db()
    event = LoyaltyEvent.objects.get(account=account)

    def as_json(data: dict) -> dict:
        return json.loads(JSONRenderer().render(data))

    # The native API writes what DRF writes: the server's zone, each row's time from one
    # look-up of it per response.
    found = api.get("/api/v1/accounts", {"q": account.email}).json()["accounts"]
    assert found == [as_json(AccountOutputSerializer(account).data)]
    assert found[0]["created_at"][-6:] in ("-05:00", "-04:00")
    page = api.get(f"/api/v1/accounts/{account.pk}/events").json()["events"]
    assert [row["created_at"] for row in page] == [EventOutputSerializer(event).data["created_at"]]
    # Square writes UTC with a Z, whatever the server's zone.
    square = api.get(f"/v2/loyalty/accounts/{account.pk}").json()["loyalty_account"]
    assert square["created_at"] == account.created_at.astimezone(UTC).isoformat()[:-6] + "Z"
