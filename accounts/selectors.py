"""Reads of accounts: search by what an agent or an integration knows of a customer."""

import re

from django.db import connection
from django.db.models import Q, QuerySet

from .models import LoyaltyAccount, Program
from .phones import phone_prefixes


def _prefix(field: str, prefix: str) -> Q:
    # PostgreSQL answers LIKE 'abc%' from the varchar_pattern_ops index. SQLite's LIKE with
    # ESCAPE cannot use an index, but a range on the binary-collated column can, and for a
    # binary collation the range [prefix, prefix+1) is exactly "starts with prefix".
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__startswith": prefix})
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return Q(**{f"{field}__gte": prefix, f"{field}__lt": upper})


def search_accounts(*, program: Program, query: str) -> QuerySet[LoyaltyAccount]:
    """Accounts whose email, phone or customer id equals or starts with `query`.

    Ordered by email, then phone, so that a page of results is stable.
    """
    query = query.strip()
    if not query:
        return LoyaltyAccount.objects.none()
    condition = _prefix("email", query.lower()) | _prefix("customer_id", query)
    if re.fullmatch(r"[\d\s()+.\-/]+", query) and re.search(r"\d{2,}", re.sub(r"\D", "", query)):
        for prefix in phone_prefixes(query):
            condition |= _prefix("phone", prefix)
    return (
        LoyaltyAccount.objects.filter(program=program)
        .filter(condition)
        .select_related("program")
        .order_by("email", "phone", "id")
    )


def default_program() -> Program:
    return Program.objects.resolve("main")
