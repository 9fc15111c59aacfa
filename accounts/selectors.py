"""Reads of accounts: search by what an agent or an integration knows of a customer."""

import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Collate

from .models import LoyaltyAccount, Program
from .phones import phone_prefixes

# Which field matched decides the order of results: email matches first, then phone, then
# customer id; within each, by that field in byte order, then id.
SEARCH_FIELDS = ("email", "phone", "customer_id")


def _key(field: str):
    # Byte order ("C" collation) on PostgreSQL, whatever the database's collation: the
    # (program, field COLLATE "C", id) indexes of migration 0003 answer both the prefix test
    # and the order, so a short prefix on a million rows reads only the rows it returns.
    # SQLite's default collation is already byte order (BINARY).
    return Collate(F(field), "C") if connection.vendor == "postgresql" else F(field)


def _prefix(prefix: str) -> Q:
    if connection.vendor == "postgresql":
        return Q(key__startswith=prefix)
    # SQLite's LIKE with ESCAPE cannot use an index, but a range on the binary-collated column
    # can, and for a binary collation the range [prefix, prefix+1) is exactly the prefix.
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return Q(key__gte=prefix, key__lt=upper)


def _prefixes(query: str) -> dict[str, list[str]]:
    prefixes = {"email": [query.lower()], "phone": [], "customer_id": [query]}
    if re.fullmatch(r"[\d\s()+.\-/]+", query) and re.search(r"\d{2,}", re.sub(r"\D", "", query)):
        prefixes["phone"] = phone_prefixes(query)
    return prefixes


def search_accounts(*, program: Program, query: str, limit: int = 100) -> list[LoyaltyAccount]:
    """The first `limit` accounts whose email, phone or customer id equals or starts with
    `query`: those found by email first, by email; then by phone, by phone; then by customer
    id; so that a page of results is stable. Callers slice pages within the first `limit`.

    Each field is searched on its own, an ordered index range read up to `limit` rows, and
    the few rows are merged here: one OR over three prefixes would read and sort every match.
    """
    query = query.strip()
    if not query:
        return []
    prefixes = _prefixes(query)
    branches = [
        LoyaltyAccount.objects.filter(program=program)
        .alias(key=_key(field))
        .filter(_prefix(prefix))
        .annotate(rank=Value(rank))
        .order_by("key", "id")
        .values_list("id", field, "rank")[:limit]
        for rank, field in enumerate(SEARCH_FIELDS)
        for prefix in prefixes[field]
    ]
    if connection.features.supports_slicing_ordering_in_compound and len(branches) > 1:
        # PostgreSQL: every branch in one round trip, each still its own ordered index range.
        rows = branches[0].union(*branches[1:], all=True)
    else:
        rows = (row for branch in branches for row in branch)
    found: dict[object, tuple] = {}
    for pk, value, rank in rows:
        # An account found by several fields is listed where it sorts first.
        key = (rank, value.encode(), str(pk))
        found[pk] = min(found.get(pk, key), key)
    ordered = sorted(found, key=found.__getitem__)[:limit]
    if not ordered:
        return []
    # Put in order here: an ORDER BY CASE over the ids costs more to compose than the rest.
    accounts = LoyaltyAccount.objects.filter(pk__in=ordered).select_related(
        "program", "merged_into"
    )
    by_id = {account.pk: account for account in accounts}
    return [by_id[pk] for pk in ordered]


@dataclass(frozen=True)
class SearchPage:
    """One page of the console's search results."""

    accounts: list[LoyaltyAccount]
    next_offset: int | None

    @property
    def summary(self) -> str:
        """What a screen reader announces: "1 customer found.", "20 or more customers found."."""
        count = len(self.accounts)
        more = " or more" if self.next_offset is not None else ""
        noun = "customer" if count == 1 and not more else "customers"
        return f"{count:,}{more} {noun} found."


def search_page(*, program: Program, query: str, offset: int, size: int) -> SearchPage:
    # One row more than a page tells whether there is a next page without counting matches.
    limit = offset + size + 1
    found = list(search_accounts(program=program, query=query, limit=limit)[offset:])
    return SearchPage(
        accounts=found[:size], next_offset=offset + size if len(found) > size else None
    )


def accounts_with_identities(
    *, phones: list[str], customer_ids: list[str | None]
) -> QuerySet[LoyaltyAccount]:
    """Open accounts, of any program, with any of these (normalised) phones or customer ids,
    or into which an account with one was merged; every open account when none is given
    (Square's SearchLoyaltyAccounts)."""
    accounts = LoyaltyAccount.objects.select_related("program").filter(merged_into__isnull=True)
    wanted = [c for c in customer_ids if c]
    if phones or customer_ids:
        having = Q(phone__in=phones) | Q(customer_id__in=wanted)
        merged = LoyaltyAccount.objects.filter(having, merged_into__isnull=False)
        accounts = accounts.filter(having | Q(pk__in=merged.values("merged_into")))
    return accounts


def default_program() -> Program:
    return Program.objects.resolve("main")
