import json
import uuid

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest

from ledger.selectors import pending_approvals_count

register = template.Library()


@register.simple_tag
def pending_approvals(request: HttpRequest) -> int | None:
    """The navigation's count of requests waiting for a manager (None for agents)."""
    if not getattr(request, "is_manager", False):
        return None
    return pending_approvals_count(program=request.program)


@register.simple_tag
def new_token() -> str:
    """A one-time token for a form rendered in a list (a double submit is applied once)."""
    return str(uuid.uuid4())


@register.filter
def signed(points: int) -> str:
    """+1,000 / −30 (a true minus sign) / 0."""
    return f"{points:+,}".replace("-", "−") if points else "0"


@register.filter
def as_json(value: object) -> str:
    """`value` as JSON, for a data attribute (escaped like any text there): htmx keeps no
    <script> element, json_script's included, of the content it swaps in."""
    return json.dumps(value, cls=DjangoJSONEncoder)
