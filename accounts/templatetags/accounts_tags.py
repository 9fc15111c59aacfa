import re

from django import template
from django.utils.html import format_html

from accounts.phones import format_phone

register = template.Library()

register.filter("phone", format_phone)


def _match(value: str, query: str) -> tuple[int, int] | None:
    """Where `query` matches `value` as the search does: a prefix, in any case; for a phone,
    the query's digits within the formatted number's digits (so "555 01" marks "555-01")."""
    if value.lower().startswith(query.lower()):
        return 0, len(query)
    digits = re.sub(r"\D", "", query)
    if len(digits) < 2 or not re.fullmatch(r"[\d\s()+.\-/]+", query):
        return None
    places = [i for i, c in enumerate(value) if c.isdigit()]
    found = "".join(value[i] for i in places).find(digits)
    if found < 0:
        return None
    return places[found], places[found + len(digits) - 1] + 1


@register.filter
def matched(value: str, query: str) -> str:
    """`value` with the part the search matched in <mark>."""
    span = _match(value, query.strip()) if value and query and query.strip() else None
    if span is None:
        return value
    start, end = span
    return format_html("{}<mark>{}</mark>{}", value[:start], value[start:end], value[end:])
