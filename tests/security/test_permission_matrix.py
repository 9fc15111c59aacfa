"""Who may open what: every URL pattern of the project × every kind of caller.

The URL list is read from the URL conf, so a new page or endpoint without a row in `MATRIX`
fails `test_every_url_has_a_rule` with its name: whoever adds a URL decides who may use it.
"""

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from accounts.models import Program
from ledger import services
from ledger.models import BulkBatch, LoyaltyEvent, RewardTier
from ledger.services import Actor, webhooks
from loyalty_admin.models import ApiClient
from tests.factories import AccountFactory, api_client, operator

CALLERS = ("anonymous", "agent", "manager", "read_key", "write_key", "revoked_key")
_counter = itertools.count()


@dataclass(frozen=True)
class Rule:
    method: str
    # Status per caller, in the order of CALLERS.
    expected: tuple[int, int, int, int, int, int]
    body: Callable[[], dict] | None = None
    query: dict = field(default_factory=dict)
    # A body that depends on the path (a console form whose fields are prefixed by its id).
    body_for: Callable[[str], dict] | None = None


def unique() -> str:
    return f"{next(_counter)}-{uuid.uuid4().hex[:8]}"


def _adjustment() -> dict:
    return {"reason": "REWARD", "points": 5, "note": "matrix"}


def _reversal_form(path: str) -> dict:
    """A valid reversal form for the event in the path: the service, not the form, refuses an
    agent (an agent's invalid form gets the form's errors)."""
    prefix = f"reverse-{path.split('/')[2]}"
    return {f"{prefix}-note": "matrix", f"{prefix}-token": str(uuid.uuid4())}


def _square_account() -> dict:
    n = next(_counter)
    return {
        "loyalty_account": {"program_id": "main", "mapping": {"phone_number": f"+1415555{n:04d}"}},
        "idempotency_key": unique(),
    }


def _redemption() -> dict:
    """A Yotpo redemption of a one-point tier of the default program."""
    program = Program.objects.resolve("main")
    tier = RewardTier.objects.filter(program=program, name="Matrix").first()
    if tier is None:
        tier = RewardTier.objects.create(
            program=program, name="Matrix", points=1, created_at=timezone.now()
        )
    return {"customer_email": "matrix@example.com", "redemption_option_id": str(tier.pk)}


# Console pages answer an unauthenticated caller (keys count for nothing there) with the
# login page; the native API accepts an operator's session, Square and Yotpo only keys.
LOGIN = 302
ANYONE = (200,) * 6
CONSOLE_OPERATOR = (LOGIN, 200, 200, LOGIN, LOGIN, LOGIN)
CONSOLE_MANAGER = (LOGIN, 403, 200, LOGIN, LOGIN, LOGIN)
NATIVE_READ = (401, 200, 200, 200, 200, 401)
KEY_READ = (401, 401, 401, 200, 200, 401)
KEY_WRITE = (401, 401, 401, 403, 200, 401)

MATRIX: dict[str, Rule] = {
    # Project
    "health": Rule("GET", ANYONE),
    "ready": Rule("GET", ANYONE),
    # The test client calls from 127.0.0.1, an allowed network; tests/loyalty_admin/
    # test_metrics.py proves other addresses are refused.
    "metrics": Rule("GET", ANYONE),
    # Docs: the schema and its page describe the API and hold no data.
    "api-schema": Rule("GET", ANYONE),
    "api-docs": Rule("GET", ANYONE),
    # Console
    "login": Rule("GET", (200, 302, 302, 200, 200, 200)),
    "logout": Rule("POST", (302,) * 6),
    "search": Rule("GET", CONSOLE_OPERATOR, query={"q": "customer"}),
    "account": Rule("GET", CONSOLE_OPERATOR),
    "program-settings": Rule("GET", CONSOLE_MANAGER),
    "adjustment-preview": Rule("POST", CONSOLE_OPERATOR, body=lambda: {"amount": "5"}),
    "adjustment-create": Rule("POST", (LOGIN, 422, 422, LOGIN, LOGIN, LOGIN), body=dict),
    # Account operations
    "operation-candidates": Rule("GET", CONSOLE_OPERATOR, query={"q": "customer"}),
    "merge-preview": Rule("POST", CONSOLE_OPERATOR, body=dict),
    "merge-create": Rule("POST", (LOGIN, 422, 422, LOGIN, LOGIN, LOGIN), body=dict),
    "transfer-preview": Rule("POST", CONSOLE_OPERATOR, body=dict),
    "transfer-create": Rule("POST", (LOGIN, 422, 422, LOGIN, LOGIN, LOGIN), body=dict),
    "reasons": Rule("GET", CONSOLE_MANAGER),
    "reason-change": Rule("POST", (LOGIN, 403, 422, LOGIN, LOGIN, LOGIN), body=dict),
    "reason-active": Rule("POST", (LOGIN, 403, 302, LOGIN, LOGIN, LOGIN), body=dict),
    "bulk": Rule("GET", CONSOLE_MANAGER),
    "bulk-batch": Rule("GET", CONSOLE_MANAGER),
    "bulk-apply": Rule("POST", (LOGIN, 403, 302, LOGIN, LOGIN, LOGIN), body=dict),
    "history": Rule("GET", CONSOLE_MANAGER),
    "history-export": Rule("GET", CONSOLE_MANAGER),
    "history-summary": Rule("GET", CONSOLE_MANAGER),
    "event": Rule("GET", CONSOLE_OPERATOR),
    # Operators may post; the service refuses an agent (403) and reverses for a manager.
    "event-reverse": Rule("POST", (LOGIN, 403, 302, LOGIN, LOGIN, LOGIN), body_for=_reversal_form),
    "reversal-form": Rule("GET", CONSOLE_MANAGER),
    "approvals": Rule("GET", CONSOLE_MANAGER),
    "approval-approve": Rule("POST", (LOGIN, 403, 302, LOGIN, LOGIN, LOGIN), body=dict),
    # A plain (non-HTMX) post answers with a redirect and a message, refused or not.
    "approval-reject": Rule("POST", (LOGIN, 403, 302, LOGIN, LOGIN, LOGIN), body=dict),
    "audit": Rule("GET", CONSOLE_MANAGER),
    "people": Rule("GET", CONSOLE_MANAGER),
    "operator-role": Rule("POST", (LOGIN, 403, 302, LOGIN, LOGIN, LOGIN), body=dict),
    "operator-active": Rule("POST", (LOGIN, 403, 302, LOGIN, LOGIN, LOGIN), body=dict),
    "api-clients": Rule("GET", CONSOLE_MANAGER),
    "api-client-revoke": Rule("POST", (LOGIN, 403, 302, LOGIN, LOGIN, LOGIN), body=dict),
    # Native API
    "api-accounts": Rule("GET", NATIVE_READ, query={"q": "customer"}),
    "api-account": Rule("GET", NATIVE_READ),
    "api-reasons": Rule("GET", NATIVE_READ),
    "api-adjustment-preview": Rule("POST", NATIVE_READ, body=_adjustment),
    "api-adjustments": Rule("POST", (401, 201, 201, 403, 201, 401), body=_adjustment),
    "api-account-events": Rule("GET", NATIVE_READ),
    "api-events": Rule("GET", NATIVE_READ),
    # Reversing is a manager's action; a key needs the write scope.
    # A held adjustment's status: anyone who may read.
    "api-approval-request": Rule("GET", NATIVE_READ),
    "api-event-reverse": Rule("POST", (401, 403, 201, 403, 201, 401), body=lambda: {"note": "x"}),
    # Account operations: merging into itself reaches the ledger (and is refused there) for
    # whoever may write, without closing the account the other rules use.
    "api-account-merge": Rule(
        "POST",
        (401, 400, 400, 403, 400, 401),
        body_for=lambda path: {"into": path.split("/")[4]},
    ),
    "api-account-transfers": Rule(
        "POST",
        (401, 201, 201, 403, 201, 401),
        body=lambda: {"to": str(AccountFactory().pk), "points": 1, "reason": "matrix"},
    ),
    # Square dialect
    "square-programs": Rule("GET", KEY_READ),
    "square-program": Rule("GET", KEY_READ),
    "square-calculate": Rule(
        "POST",
        KEY_READ,
        body=lambda: {"transaction_amount_money": {"amount": 1000, "currency": "USD"}},
    ),
    "square-accounts": Rule("POST", KEY_WRITE, body=_square_account),
    "square-account-search": Rule(
        "POST", KEY_READ, body=lambda: {"query": {"customer_ids": ["nobody"]}}
    ),
    "square-account": Rule("GET", KEY_READ),
    "square-accumulate": Rule(
        "POST",
        KEY_WRITE,
        body=lambda: {
            "accumulate_points": {"points": 5},
            "location_id": "L1",
            "idempotency_key": unique(),
        },
    ),
    "square-adjust": Rule(
        "POST",
        KEY_WRITE,
        body=lambda: {"adjust_points": {"points": 5}, "idempotency_key": unique()},
    ),
    "square-event-search": Rule("POST", KEY_READ, body=dict),
    # Yotpo dialect
    "yotpo-adjust": Rule(
        "POST",
        KEY_WRITE,
        body=lambda: {"customer_email": "matrix@example.com", "point_adjustment_amount": 5},
    ),
    "yotpo-customers": Rule("GET", KEY_READ, query={"customer_email": "matrix@example.com"}),
    # Rewards. Console posts without HTMX answer with a redirect and a message, refused or
    # not; an empty API body reaches validation only with the right key.
    "reward-tiers": Rule("GET", CONSOLE_MANAGER),
    "reward-tier-rename": Rule("POST", (LOGIN, 403, 422, LOGIN, LOGIN, LOGIN), body=dict),
    "reward-tier-retire": Rule("POST", (LOGIN, 403, 302, LOGIN, LOGIN, LOGIN), body=dict),
    "reward-preview": Rule("POST", CONSOLE_OPERATOR, body=dict),
    "reward-create": Rule("POST", (LOGIN, 302, 302, LOGIN, LOGIN, LOGIN), body=dict),
    "reward-redeem": Rule("POST", (LOGIN, 302, 302, LOGIN, LOGIN, LOGIN), body=dict),
    "reward-delete": Rule("POST", (LOGIN, 302, 302, LOGIN, LOGIN, LOGIN), body=dict),
    "square-rewards": Rule("POST", (401, 401, 401, 403, 400, 401), body=dict),
    "square-reward-search": Rule("POST", (401, 401, 401, 400, 400, 401), body=dict),
    "square-reward": Rule("GET", KEY_READ),
    "square-reward-redeem": Rule(
        "POST", KEY_WRITE, body=lambda: {"idempotency_key": unique(), "location_id": "L1"}
    ),
    # Webhooks (the console's and Square's subscriptions API)
    "webhooks": Rule("GET", CONSOLE_MANAGER),
    "webhook": Rule("GET", CONSOLE_MANAGER),
    "webhook-test": Rule("POST", (LOGIN, 403, 302, LOGIN, LOGIN, LOGIN), body=dict),
    "webhook-rotate": Rule("POST", (LOGIN, 403, 200, LOGIN, LOGIN, LOGIN), body=dict),
    "webhook-delete": Rule("POST", (LOGIN, 403, 302, LOGIN, LOGIN, LOGIN), body=dict),
    "webhook-resend": Rule("POST", (LOGIN, 403, 302, LOGIN, LOGIN, LOGIN), body=dict),
    "square-webhook-event-types": Rule("GET", KEY_READ),
    "square-webhook-subscriptions": Rule("GET", KEY_READ),
    "square-webhook-subscription": Rule("GET", KEY_READ),
    "square-webhook-signature-key": Rule("POST", KEY_WRITE, body=dict),
    "square-webhook-test": Rule("POST", KEY_WRITE, body=dict),
    "yotpo-redemption-options": Rule(
        "GET", KEY_READ, query={"customer_email": "matrix@example.com"}
    ),
    "yotpo-redemptions": Rule("POST", KEY_WRITE, body=lambda: _redemption()),
}


def url_patterns(patterns=None, prefix: str = "") -> list[tuple[str, URLPattern]]:
    """(route, pattern) of every URL of the project, except the Django admin's."""
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if route.startswith(("admin/", "static/")):
            continue
        if isinstance(entry, URLResolver):
            found += url_patterns(entry.url_patterns, route)
        else:
            found.append((route, entry))
    return found


def test_every_url_has_a_rule():
    patterns = url_patterns()
    unnamed = [route for route, p in patterns if not p.name]
    missing = [f"{p.name} ({route})" for route, p in patterns if p.name and p.name not in MATRIX]
    assert not unnamed, f"Name these URL patterns so that the matrix can cover them: {unnamed}"
    assert not missing, (
        "URL patterns with no rule in tests/security/test_permission_matrix.py MATRIX: "
        f"{', '.join(missing)}. Add who may use each (anonymous, agent, manager, keys)."
    )
    stale = set(MATRIX) - {p.name for _, p in patterns}
    assert not stale, f"Rules for URLs that no longer exist: {sorted(stale)}"


@pytest.fixture
def world(program, reasons, manager):
    account = AccountFactory(program=program, email="matrix@example.com")
    services.adjust_points(
        account=account,
        points=1000,
        reason=reasons["REWARD"],
        actor=Actor.of_operator(manager),
    )
    _, revoked = api_client("revoked", "read,write", rate=10_000)
    ApiClient.objects.filter(prefix=revoked.split(".")[0]).update(revoked=True)

    def event_id() -> str:
        # A fresh event each time: an event is reversed at most once.
        event = services.adjust_points(
            account=account,
            points=1,
            reason=reasons["REWARD"],
            actor=Actor.of_operator(manager, source=LoyaltyEvent.Source.SYSTEM),
        ).event
        return str(event.pk)

    def reason_id() -> str:
        reason = services.add_reason(
            program=program,
            code=f"M{next(_counter)}",
            label="Matrix",
            sign=1,
            affects_lifetime=True,
            actor=Actor.of_operator(manager),
        )
        return str(reason.pk)

    def batch_id() -> str:
        batch, _ = services.upload_bulk_file(
            program=program,
            actor=Actor.of_operator(manager),
            filename="matrix.csv",
            data=f"email,points,reason\nmatrix@example.com,{next(_counter) + 1},REWARD\n".encode(),
        )
        return str(batch.pk)

    requester = operator("agent")

    def tier_id() -> str:
        tier = services.add_reward_tier(
            program=program, name=f"Matrix {unique()}", points=1, actor=Actor.of_operator(manager)
        )
        return str(tier.pk)

    def reward_id() -> str:
        # A fresh issued reward each time: a reward is redeemed at most once.
        reward = services.create_reward(
            account=account,
            tier=RewardTier.objects.get(pk=tier_id()),
            actor=Actor.of_operator(manager),
        )
        return str(reward.pk)

    def approval_id() -> str:
        # An agent's adjustment above the program's threshold is held for a manager.
        type(program).objects.filter(pk=program.pk).update(approval_threshold=100)
        try:
            held = services.adjust_points(
                account=account,
                points=500,
                reason=reasons["REWARD"],
                actor=Actor.of_operator(requester),
            )
        finally:
            type(program).objects.filter(pk=program.pk).update(approval_threshold=None)
        assert held.held
        return str(held.approval.pk)

    subscriptions = []

    def subscription_id() -> str:
        # Loopback's discard port: a test notification is refused at once, nothing listens.
        subscriptions.append(
            webhooks.create_subscription(
                notification_url="http://127.0.0.1:9/matrix",
                event_types=["loyalty.event.created"],
                actor=Actor.of_operator(manager),
            )
        )
        return subscriptions[-1].pk

    def notification_id() -> str:
        # Of the subscription the same path names (built just before).
        return str(
            webhooks.send_test_notification(
                subscription=subscriptions[-1], actor=Actor.of_operator(manager)
            ).pk
        )

    return {
        "params": {
            "subscription_id": subscription_id,
            "notification_id": notification_id,
            "account_id": lambda: str(account.pk),
            "approval_id": approval_id,
            "request_id": approval_id,
            "operator_id": lambda: str(operator("agent").pk),
            "prefix": lambda: api_client(f"matrix-{unique()}", "read", rate=10)[0].prefix,
            "event_id": event_id,
            "reason_id": reason_id,
            "batch_id": batch_id,
            "program_id": lambda: "main",
            "tier_id": tier_id,
            "reward_id": reward_id,
        },
        "keys": {
            "read_key": api_client("reader", "read", rate=10_000)[1],
            "write_key": api_client("writer", "read,write", rate=10_000)[1],
            "revoked_key": revoked,
        },
        "users": {"agent": operator("agent"), "manager": manager},
    }


def client_for(caller: str, world: dict) -> Client:
    if caller in world["keys"]:
        key = world["keys"][caller]
        return Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_X_API_KEY=key)
    client = Client()
    if caller in world["users"]:
        client.force_login(world["users"][caller])
    return client


def path_of(route: str, pattern: URLPattern, params: dict) -> str:
    path = "/" + route
    for name in pattern.pattern.converters:
        if name not in params:
            pytest.fail(f"No object to build for the path parameter {name!r} of {route}")
        converter = pattern.pattern.converters[name]
        value = params[name]()
        # The route text holds "<converter:name>" or "<name>"; replace either spelling.
        for spelling in (f"<{name}>", *(f"<{c}:{name}>" for c in ("str", "uuid", "int", "slug"))):
            path = path.replace(spelling, converter.to_url(converter.to_python(value)))
    return path


def request(client: Client, rule: Rule, route: str, path: str):
    if rule.method == "GET":
        return client.get(path, rule.query)
    body = rule.body_for(path) if rule.body_for else rule.body() if rule.body else {}
    if _is_api(route):
        return client.post(
            path, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=unique()
        )
    return client.post(path, body)


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_the_matrix(name, world):
    route, pattern = next((r, p) for r, p in url_patterns() if p.name == name)
    rule = MATRIX[name]
    wrong = []
    for caller, expected in zip(CALLERS, rule.expected, strict=True):
        client = client_for(caller, world)
        path = path_of(route, pattern, world["params"])
        response = request(client, rule, route, path)
        if response.status_code != expected:
            wrong.append(f"{caller}: expected {expected}, got {response.status_code}")
        elif (
            expected == LOGIN
            and caller not in world["users"]
            and name != "logout"
            and "/login/" not in response["Location"]
        ):
            wrong.append(f"{caller}: redirected to {response['Location']}, not the login page")
    assert not wrong, f"{rule.method} {name} ({route}): " + "; ".join(wrong)


def _is_api(route: str) -> bool:
    return route.startswith(("api/", "v2/"))


def test_bulk_batches_are_built_validated(world):
    batch = BulkBatch.objects.get(pk=world["params"]["batch_id"]())
    assert batch.status == BulkBatch.Status.VALIDATED
