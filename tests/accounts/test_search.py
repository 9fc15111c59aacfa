import pytest
from django.db import connection

from accounts.exceptions import DuplicateAccount, InvalidIdentity
from accounts.models import LoyaltyAccount, Program
from accounts.selectors import SearchPage, _after, _prefixes, search_accounts
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


def _fields(account):
    return {f.attname: getattr(account, f.attname) for f in account._meta.concrete_fields}


def test_it_gives_the_instances_a_queryset_would(
    program, people, django_assert_num_queries, settings
):
    closed = AccountFactory(program=program, email="ann.old@example.com", phone=None)
    closed.merged_into, closed.closed_at = people["ann"], closed.created_at
    closed.save()
    other = Program.objects.create(name="Other", alias="other")
    AccountFactory(program=other, email="ann.other@example.com")
    # Every field's prefixes in one statement on PostgreSQL, one statement each elsewhere;
    # and one more for the accounts that closed ones were merged into, when there are any.
    for query, closed_found in (("ann", 1), ("555", 0)):
        branches = sum(len(p) for p in _prefixes(query).values())
        statements = 1 if connection.vendor == "postgresql" else branches
        with django_assert_num_queries(statements + closed_found):
            found = search_accounts(program=program, query=query)
    assert len(found) == 2
    found = search_accounts(program=program, query="ann")

    loaded = LoyaltyAccount.objects.select_related("program", "merged_into").in_bulk(
        [a.pk for a in found]
    )
    assert [a.email for a in found] == [
        "ann.lee@example.com",
        "ann.old@example.com",
        "annie@example.com",
    ]
    with django_assert_num_queries(0):
        for account in found:
            assert _fields(account) == _fields(loaded[account.pk])
            assert account.program == program
            assert account.merged_into == loaded[account.pk].merged_into
            assert not account._state.adding
    assert found[1].merged_into == people["ann"]


@pytest.mark.parametrize(
    ("prefix", "after"),
    [
        ("ab", "ac"),
        ("a\ud7ff", "a\ue000"),  # past the surrogates, which are not characters
        ("a\U0010ffff", "b"),
        ("\U0010ffff", None),
    ],
)
def test_the_end_of_a_prefix_range_is_the_next_character(prefix, after):
    assert _after(prefix) == after


def test_it_searches_prefixes_at_the_edges_of_unicode(program):
    edge = AccountFactory(program=program, customer_id="\ud7ff-\U0010ffff")
    AccountFactory(program=program, customer_id="\ue000")

    assert search_accounts(program=program, query="\ud7ff") == [edge]
    assert search_accounts(program=program, query="\ud7ff-\U0010ffff") == [edge]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="collations of PostgreSQL")
@pytest.mark.django_db
def test_one_unique_index_per_field_gives_the_range_and_the_order(program, people):
    from accounts.selectors import SEARCH_FIELDS, _branch_sql

    table = LoyaltyAccount._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, collation_name FROM information_schema.columns"
            " WHERE table_name = %s AND column_name = ANY(%s)",
            [table, list(SEARCH_FIELDS)],
        )
        assert dict(cursor.fetchall()) == dict.fromkeys(SEARCH_FIELDS, "C")
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        definitions = [row[0] for row in cursor.fetchall()]
        cursor.execute("SET LOCAL enable_seqscan = off")  # three rows: it would read them all
        for rank, field in enumerate(SEARCH_FIELDS):
            # One index per field: the unique constraint's.
            assert [d for d in definitions if f"{field}" in d.split("(", 1)[1]] == [
                f"CREATE UNIQUE INDEX uniq_{field} ON public.{table} USING btree"
                f" (program_id, {field})"
            ]
            cursor.execute(
                "EXPLAIN " + _branch_sql(field, rank, True, "postgresql"),
                [program.pk, "a", "b", 100],
            )
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert f"Index Scan using uniq_{field}" in plan
            assert "Sort" not in plan  # the index gives the order
