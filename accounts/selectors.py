"""Reads of accounts: search by what an agent or an integration knows of a customer."""

import functools
import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q, QuerySet

from loyalty_admin import rows

from .models import LoyaltyAccount, Program
from .phones import phone_prefixes

# Which field matched decides the order of results: email matches first, then phone, then
# customer id; within each, by that field in byte order, then id.
SEARCH_FIELDS = ("email", "phone", "customer_id")


def _after(prefix: str) -> str | None:
    """The first string after every string that starts with `prefix`, in code point order
    (None: there is none). In that order, which is byte order for UTF-8, the strings that
    start with `prefix` are exactly those from `prefix` up to it."""
    head = prefix.rstrip(chr(0x10FFFF))
    if not head:
        return None
    following = ord(head[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are not characters
        following = 0xE000
    return head[:-1] + chr(following)


@functools.cache
def _branch_sql(field: str, rank: int, bounded: bool, vendor: str) -> str:
    """One field's prefix search, composed once per process: the accounts of a program whose
    `field` starts with a prefix, in that field's byte order, up to a limit; each row with
    `rank` last. A value is unique within its program and the range leaves out NULL, so the
    field alone orders the rows.

    In byte order (the "C" collation on PostgreSQL, where these columns are stored in it;
    SQLite's BINARY), the unique (program, field) index answers both the range and the
    order, so a short prefix on a million accounts reads only the rows it returns."""
    meta = LoyaltyAccount._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = ", ".join(f"{table}.{quote(f.column)}" for f in meta.concrete_fields)
    key = f"{table}.{quote(meta.get_field(field).column)}"
    if vendor == "postgresql":
        key += ' COLLATE "C"'
    program = f"{table}.{quote(meta.get_field('program').column)}"
    return (
        f"SELECT {columns}, {int(rank)} FROM {table} WHERE {program} = %s AND {key} >= %s"
        + (f" AND {key} < %s" if bounded else "")
        + f" ORDER BY {key} LIMIT %s"
    )


@functools.cache
def _conversions(vendor: str) -> tuple[rows.Conversion, ...]:
    return rows.conversions(LoyaltyAccount._meta.concrete_fields)


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
    The branches read whole rows, all in one statement on PostgreSQL, composed once per
    process; the instances are those `select_related("program", "merged_into")` would give.
    """
    query = query.strip()
    if not query:
        return []
    meta = LoyaltyAccount._meta
    program_id = meta.get_field("program").get_db_prep_value(program.pk, connection)
    prefixes, branches = _prefixes(query), []
    for rank, field in enumerate(SEARCH_FIELDS):
        for prefix in prefixes[field]:
            upper = _after(prefix)
            sql = _branch_sql(field, rank, upper is not None, connection.vendor)
            branches.append((sql, [program_id, prefix, *([upper] if upper else []), limit]))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(branches) > 1:
            # Every branch in one round trip, each still its own ordered index range.
            cursor.execute(
                " UNION ALL ".join(f"({sql})" for sql, _ in branches),
                [param for _, params in branches for param in params],
            )
            found = cursor.fetchall()
        else:
            found = []
            for sql, params in branches:
                cursor.execute(sql, params)
                found += cursor.fetchall()
    attnames = [f.attname for f in meta.concrete_fields]
    pk_at = attnames.index(meta.pk.attname)
    value_at = [attnames.index(field) for field in SEARCH_FIELDS]
    best: dict[object, tuple] = {}
    for row in found:
        # An account found by several fields is listed where it sorts first.
        pk, rank = row[pk_at], row[-1]
        order = (rank, row[value_at[rank]].encode(), str(pk))
        if pk not in best or order < best[pk][0]:
            best[pk] = (order, row[:-1])
    conversions = _conversions(connection.vendor)
    accounts = [
        rows.instance(LoyaltyAccount, rows.converted(row, conversions))
        for _, row in sorted(best.values())[:limit]  # the orders differ: rows never compared
    ]
    _attach(accounts, program)
    return accounts


def _attach(accounts: list[LoyaltyAccount], program: Program) -> None:
    """What `select_related("program", "merged_into")` would have read with them: the
    program (theirs, by the search), and for closed accounts the account they were merged
    into."""
    program_field = LoyaltyAccount.program.field
    merged_field = LoyaltyAccount.merged_into.field
    closed = {a.merged_into_id for a in accounts if a.merged_into_id is not None}
    into = LoyaltyAccount.objects.in_bulk(closed) if closed else {}
    for account in accounts:
        program_field.set_cached_value(account, program)
        merged_field.set_cached_value(account, into.get(account.merged_into_id))


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
