import pytest

from accounts.exceptions import DuplicateAccount, InvalidIdentity
from accounts.selectors import SearchPage, search_accounts
from accounts.services import enroll_account

from ..factories import AccountFactory


@pytest.fixture
def people(program):
    return {
        "ann": AccountFactory(
            program=program, email="ann.lee@example.com", phone="+15551234567", customer_id="C-1"
        ),
        "bob": AccountFactory(
            program=program, email="bob@example.org", phone="+447700900123", customer_id="C-2"
        ),
        "annie": AccountFactory(
            program=program, email="annie@example.com", phone="+15559876543", customer_id="X-9"
        ),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ann.lee@example.com", ["ann"]),
        ("ANN", ["ann", "annie"]),
        ("annie@", ["annie"]),
        ("555 123", ["ann"]),
        ("+1 (555) 123-45", ["ann"]),
        ("(555) 98", ["annie"]),
        ("+44 7700", ["bob"]),
        ("447700900123", ["bob"]),
        ("C-", ["ann", "bob"]),
        ("X-9", ["annie"]),
        ("nobody", []),
        ("   ", []),
    ],
)
def test_it_finds_by_email_phone_or_customer_id_prefix(program, people, query, expected):
    found = list(search_accounts(program=program, query=query))

    assert found == [people[name] for name in expected]


def test_enrolment_normalizes_identity_and_refuses_duplicates(program):
    account = enroll_account(program=program, email=" Zed@Example.COM ", phone="(555) 000-1111")

    assert (account.email, account.phone, account.balance) == (
        "zed@example.com",
        "+15550001111",
        0,
    )
    with pytest.raises(DuplicateAccount, match="phone"):
        enroll_account(program=program, phone="+1 555 000 1111")
    with pytest.raises(InvalidIdentity, match="not a"):
        enroll_account(program=program, phone="12")
    with pytest.raises(InvalidIdentity):
        enroll_account(program=program)


def test_a_limited_search_is_the_start_of_the_full_one(program):
    for i in range(6):
        AccountFactory(program=program, email=f"c{5 - i}@example.com", customer_id=f"c-{i}")
    # Found by email and by customer id: listed once, with the email matches.
    AccountFactory(program=program, email="cz@example.com", customer_id="cz")

    full = list(search_accounts(program=program, query="c"))

    assert [a.email for a in full[:7]] == [f"c{i}@example.com" for i in range(6)] + [
        "cz@example.com"
    ]
    assert len(full) == len(set(full))
    for limit in (1, 3, 7, 20):
        assert list(search_accounts(program=program, query="c", limit=limit)) == full[:limit]


@pytest.mark.parametrize(
    ("count", "next_offset", "summary"),
    [
        (1, None, "1 customer found."),
        (2, None, "2 customers found."),
        (20, 20, "20 or more customers found."),
    ],
)
def test_a_page_of_results_says_how_many_in_words(count, next_offset, summary):
    assert SearchPage(accounts=[object()] * count, next_offset=next_offset).summary == summary
