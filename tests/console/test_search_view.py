import pytest
from django.urls import reverse

from accounts.models import Program
from tests.factories import AccountFactory, UserFactory

from .conftest import HX

pytestmark = pytest.mark.django_db


@pytest.fixture
def ann(program):
    return AccountFactory(
        program=program,
        first_name="Ann",
        last_name="Lee",
        email="ann.lee@example.com",
        phone="+15551234567",
        customer_id="C-1",
        balance=0,
    )


def test_it_redirects_anonymous_visitors_to_login(client):
    response = client.get("/?q=ann")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/%3Fq%3Dann"


def test_it_asks_htmx_to_load_the_login_page_for_anonymous_fragments(client):
    response = client.get("/?q=ann", **HX)

    assert response.status_code == 200
    assert response["HX-Redirect"] == "/login/?next=/%3Fq%3Dann"


def test_it_forbids_users_who_are_not_operators(client):
    client.force_login(UserFactory())

    assert client.get("/").status_code == 403


def test_it_shows_an_empty_state_before_a_query(agent_client):
    response = agent_client.get("/")

    assert response.status_code == 200
    assert "Type an email address, a phone number or a customer id." in response.text
    assert 'hx-trigger="input changed delay:250ms, search"' in response.text


def test_it_finds_a_customer_by_partial_phone_with_the_full_page(agent_client, ann):
    response = agent_client.get("/", {"q": "555 123"})

    assert response.status_code == 200
    assert "<html" in response.text
    assert "Ann Lee" in response.text
    assert "+1 <mark>555-123</mark>-4567" in response.text  # the part that matched
    assert reverse("account", args=[ann.pk]) in response.text


def test_it_answers_htmx_with_the_results_fragment_only(agent_client, ann):
    response = agent_client.get("/", {"q": "ann."}, **HX)

    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.strip().startswith('<section id="results"')
    assert "<mark>ann.</mark>lee@example.com" in response.text


def test_it_says_when_nothing_matches(agent_client, ann):
    response = agent_client.get("/", {"q": "nobody"}, **HX)

    assert "No customer matches “nobody”" in response.text


def test_it_pages_many_results_with_a_more_link(agent_client, program):
    AccountFactory.create_batch(25, program=program)

    first = agent_client.get("/", {"q": "customer"}, **HX)
    more = agent_client.get("/", {"q": "customer", "offset": 20}, **HX)

    assert first.text.count('class="result"') == 20
    assert "offset=20" in first.text
    assert more.text.count('class="result"') == 5
    assert "More customers" not in more.text
    assert not more.text.strip().startswith('<section id="results"')


def test_it_only_searches_the_console_program(agent_client, ann):
    other = Program.objects.create(name="Other", alias="other")
    AccountFactory(program=other, email="ann.other@example.com")

    response = agent_client.get("/", {"q": "ann"}, **HX)

    assert "<mark>ann</mark>.lee@example.com" in response.text
    assert "ann.other@example.com" not in response.text and "other@example.com" not in response.text


def test_it_refuses_post(agent_client):
    assert agent_client.post("/").status_code == 405
