"""Every face refuses the same bad adjustment with the same refusal, in its own format, and
writes nothing: the console form, the native API, the Square and Yotpo dialects, the bulk file.

One table of rules × the five faces. A face that cannot express an input (the console offers
reasons from a list, Square has no reason codes, Yotpo no note) is left out of that row.
"""

import html
import uuid
from dataclasses import dataclass

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from ledger.models import ApprovalRequest, BulkBatch, LoyaltyEvent, Reason
from ledger.services import MAX_POINTS
from tests.factories import api_client

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@dataclass(frozen=True)
class Attempt:
    """One adjustment, as each face would be asked for it."""

    points: int
    reason: str = "REWARD"
    note: str = ""
    title: str = ""
    square_reason: str = ""


@dataclass(frozen=True)
class Refused:
    status: int
    code: str
    message: str  # the ledger's sentence, shown by every face


class Faces:
    def __init__(self, account, key: str, manager) -> None:
        self.account = account
        self.key = key
        self.manager = manager

    def _bearer(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.key}")
        return client

    def native(self, attempt: Attempt) -> Refused:
        response = self._bearer().post(
            reverse("api-adjustments", args=[self.account.pk]),
            {
                "reason": attempt.reason,
                "points": attempt.points,
                "note": attempt.note,
                "history_title": attempt.title,
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        error = response.json()["errors"][0]
        return Refused(response.status_code, error["code"], error["message"])

    def square(self, attempt: Attempt) -> Refused:
        body = {"idempotency_key": str(uuid.uuid4()), "adjust_points": {"points": attempt.points}}
        if attempt.square_reason:
            body["adjust_points"]["reason"] = attempt.square_reason
        response = self._bearer().post(
            reverse("square-adjust", args=[self.account.pk]), body, format="json"
        )
        error = response.json()["errors"][0]
        return Refused(response.status_code, error["code"], error["detail"])

    def yotpo(self, attempt: Attempt) -> Refused:
        client = APIClient()
        response = client.post(
            reverse("yotpo-adjust"),
            {
                "customer_email": self.account.email,
                "point_adjustment_amount": attempt.points,
                "reason": attempt.reason,
                "history_title": attempt.title,
            },
            format="json",
            HTTP_X_API_KEY=self.key,
        )
        error = response.json()["errors"][0]
        return Refused(response.status_code, error["code"], error["message"])

    def console(self, attempt: Attempt) -> Refused:
        client = APIClient()
        client.force_login(self.manager)
        reason = Reason.objects.get(program=self.account.program, code=attempt.reason)
        response = client.post(
            reverse("adjustment-create", args=[self.account.pk]),
            {
                "reason": reason.pk,
                "amount": abs(attempt.points),
                "history_title": attempt.title,
                "note": attempt.note,
                "visible_to_customer": "on",
                "token": str(uuid.uuid4()),
            },
            **HX,
        )
        return Refused(response.status_code, "", html.unescape(response.text))

    def bulk(self, attempt: Attempt) -> Refused:
        client = APIClient()
        client.force_login(self.manager)
        row = [self.account.email, str(attempt.points), attempt.reason, attempt.title, attempt.note]
        content = "email,points,reason,history_title,note\n" + ",".join(row) + "\n"
        client.post(reverse("bulk"), {"file": SimpleUploadedFile("file.csv", content.encode())})
        batch = BulkBatch.objects.latest("created_at")
        assert batch.status == BulkBatch.Status.INVALID
        return Refused(422, "", " ".join(e["message"] for e in batch.errors))


@pytest.fixture
def faces(funded, manager) -> Faces:
    _, key = api_client("parity", "read,write", rate=10_000)
    return Faces(funded, key, manager)


@pytest.fixture(autouse=True)
def special_reasons(program):
    Reason.objects.create(
        program=program,
        code="RETIRED",
        label="Retired",
        sign=1,
        affects_lifetime=True,
        active=False,
    )
    Reason.objects.create(
        program=program,
        code="GOODWILL",
        label="Goodwill",
        sign=1,
        affects_lifetime=True,
        requires_note=True,
    )


# rule → (the attempt, the native code, Square's code and status, Yotpo's status, the faces).
# Yotpo answers a rule of the ledger with 422 and malformed input with 400 (docs/api.md).
ALL = ("console", "native", "square", "yotpo", "bulk")
RULES = {
    "zero points": (Attempt(0), "INVALID_AMOUNT", ("INVALID_VALUE", 400), 400, ALL),
    "too many points": (
        Attempt(MAX_POINTS + 1),
        "INVALID_AMOUNT",
        ("INVALID_VALUE", 400),
        400,
        ALL,
    ),
    "unknown reason": (
        Attempt(5, reason="NOPE"),
        "REASON_UNKNOWN",
        None,
        400,
        ("native", "yotpo", "bulk"),
    ),
    "reason not in use": (
        Attempt(5, reason="RETIRED"),
        "REASON_INACTIVE",
        None,
        422,
        ("console", "native", "yotpo", "bulk"),
    ),
    "sign against the reason": (
        Attempt(-5, reason="REWARD"),
        "REASON_SIGN_MISMATCH",
        None,
        422,
        ("native", "yotpo", "bulk"),
    ),
    "note required": (
        Attempt(5, reason="GOODWILL"),
        "NOTE_REQUIRED",
        None,
        422,
        ("console", "native", "bulk"),
    ),
    "title too long": (
        Attempt(5, title="t" * 201, square_reason="r" * 3_501),
        "VALUE_TOO_LONG",
        ("VALUE_TOO_LONG", 400),
        400,
        ALL,
    ),
    "not enough points": (
        Attempt(-1_500, reason="REDEEM_DISCOUNT"),
        "INSUFFICIENT_POINTS",
        ("BAD_REQUEST", 400),
        422,
        ALL,
    ),
}


@pytest.mark.parametrize(
    ("rule", "face"), [(rule, face) for rule, row in RULES.items() for face in row[4]]
)
def test_every_face_refuses_the_same_input_the_same_way(faces, face, rule):
    attempt, native_code, square, yotpo_status, _ = RULES[rule]
    account = faces.account
    before = (account.balance, account.lifetime_points)
    # The native dialect's answer is the reference: the same sentence everywhere.
    expected = faces.native(attempt) if face != "square" else None

    answer = getattr(faces, face)(attempt)

    if face == "native":
        assert (answer.status, answer.code) == (400, native_code)
    elif face == "square":
        assert (answer.code, answer.status) == square
        assert answer.message
    elif face == "yotpo":
        assert (answer.status, answer.code, answer.message) == (
            yotpo_status,
            native_code,
            expected.message,
        )
    elif face == "console":  # next to the field (and in the preview beside the form)
        assert answer.status == 422
        assert expected.message in answer.message
    else:  # on the file's row
        assert answer.message == expected.message
    account.refresh_from_db()
    assert (account.balance, account.lifetime_points) == before
    assert LoyaltyEvent.objects.filter(account=account).count() == 1  # the funding event
    assert not ApprovalRequest.objects.exists()


# --- Who acts: the same rules for the console and the native API's session ----------------


@pytest.fixture
def threshold(program):
    program.approval_threshold = 500
    program.save(update_fields=["approval_threshold"])
    return 500


def _session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_an_agent_above_the_threshold_is_held_in_the_console_and_the_native_api(
    faces, agent, threshold
):
    account = faces.account
    reward = Reason.objects.get(program=account.program, code="REWARD")
    console = _session(agent).post(
        reverse("adjustment-create", args=[account.pk]),
        {"reason": reward.pk, "amount": 600, "visible_to_customer": "on", "token": uuid.uuid4()},
        **HX,
    )
    native = _session(agent).post(
        reverse("api-adjustments", args=[account.pk]),
        {"reason": "REWARD", "points": 600},
        format="json",
        HTTP_IDEMPOTENCY_KEY="held-1",
    )

    assert console.status_code == 200
    assert "Sent to a manager for approval: +600 points" in html.unescape(console.text)
    assert native.status_code == 202
    held = native.json()["approval_request"]
    assert (held["status"], held["points"], held["reason"]) == ("PENDING", 600, "REWARD")
    assert native["Location"] == held["link"] == f"/api/v1/approval-requests/{held['id']}"
    assert _session(agent).get(held["link"]).json()["id"] == held["id"]
    requests = ApprovalRequest.objects.filter(account=account).order_by("created_at")
    assert [r.source for r in requests] == ["ADMIN_UI", "NATIVE_API"]
    account.refresh_from_db()
    assert account.balance == 1000
    # A retry of the native request gets the same held request, not a second one.
    again = _session(agent).post(
        reverse("api-adjustments", args=[account.pk]),
        {"reason": "REWARD", "points": 600},
        format="json",
        HTTP_IDEMPOTENCY_KEY="held-1",
    )
    assert (again.status_code, again.json()["approval_request"]["id"]) == (202, held["id"])
    assert requests.count() == 2


def test_an_api_key_is_never_held(faces, threshold):
    answer = faces._bearer().post(
        reverse("api-adjustments", args=[faces.account.pk]),
        {"reason": "REWARD", "points": 600},
        format="json",
        HTTP_IDEMPOTENCY_KEY="key-1",
    )

    assert answer.status_code == 201
    assert not ApprovalRequest.objects.exists()


def test_only_managers_and_keys_may_override_the_balance_check(faces, agent, manager):
    account = faces.account
    body = {"reason": "REDEEM_DISCOUNT", "points": -1_500, "allow_negative": True}
    refused = _session(agent).post(
        reverse("api-adjustments", args=[account.pk]),
        body,
        format="json",
        HTTP_IDEMPOTENCY_KEY="o-1",
    )
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "OVERRIDE_NOT_ALLOWED"
    assert LoyaltyEvent.objects.filter(account=account).count() == 1

    for client in (_session(manager), faces._bearer()):
        applied = client.post(
            reverse("api-adjustments", args=[account.pk]),
            {**body, "points": -600},
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        assert applied.status_code == 201
    account.refresh_from_db()
    assert account.balance == -200


def test_an_agent_may_reverse_nothing_in_any_face(faces, agent):
    event = LoyaltyEvent.objects.get(account=faces.account)
    console = _session(agent).post(
        reverse("event-reverse", args=[event.pk]),
        {f"reverse-{event.pk}-note": "mistake", f"reverse-{event.pk}-token": uuid.uuid4()},
    )
    native = _session(agent).post(
        reverse("api-event-reverse", args=[event.pk]),
        {"note": "mistake"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="r-1",
    )

    assert console.status_code == 403
    assert native.status_code == 403
    assert native.json()["errors"][0]["code"] == "NOT_ALLOWED"
    assert not LoyaltyEvent.objects.filter(reverses=event).exists()


def test_a_reused_key_with_another_body_is_refused_in_each_dialect(faces):
    account = faces.account
    native = [
        faces._bearer().post(
            reverse("api-adjustments", args=[account.pk]),
            {"reason": "REWARD", "points": points},
            format="json",
            HTTP_IDEMPOTENCY_KEY="same",
        )
        for points in (5, 6)
    ]
    square = [
        faces._bearer().post(
            reverse("square-adjust", args=[account.pk]),
            {"idempotency_key": "same-sq", "adjust_points": {"points": points}},
            format="json",
        )
        for points in (5, 6)
    ]

    assert [r.status_code for r in native] == [201, 422]
    assert native[1].json()["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert [r.status_code for r in square] == [200, 400]
    assert square[1].json()["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert LoyaltyEvent.objects.filter(account=account).count() == 3


def test_square_keeps_a_3500_character_reason_whole(faces):
    reason = "why " * 875
    response = faces._bearer().post(
        reverse("square-adjust", args=[faces.account.pk]),
        {"idempotency_key": "long", "adjust_points": {"points": 5, "reason": reason}},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["event"]["adjust_points"]["reason"] == reason
    event = LoyaltyEvent.objects.get(pk=response.json()["event"]["id"])
    assert event.reason_text == reason
    assert len(event.history_title) == 200


def test_reason_codes_are_understood_in_any_case(faces):
    native = faces._bearer().post(
        reverse("api-adjustments", args=[faces.account.pk]),
        {"reason": "reward", "points": 5},
        format="json",
        HTTP_IDEMPOTENCY_KEY="case",
    )
    yotpo = APIClient().post(
        reverse("yotpo-adjust"),
        {"customer_email": faces.account.email, "point_adjustment_amount": 5, "reason": "Reward"},
        format="json",
        HTTP_X_API_KEY=faces.key,
    )

    assert (native.status_code, native.json()["reason"]) == (201, "REWARD")
    assert yotpo.status_code == 200
    reasons = LoyaltyEvent.objects.filter(account=faces.account).values_list("reason__code")
    assert list(reasons) == [("REWARD",)] * 3
