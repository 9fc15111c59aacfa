import json
import uuid

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest

from ledger.selectors import account_history, pending_approvals_count
from ledger.selectors.grants import agents_use

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


@register.inclusion_tag("ledger/agent_limits.html", takes_context=True)
def agent_limits(context) -> dict:
    """Each agent's points granted in the last 24 hours against the program's daily limit
    (the People page, for managers)."""
    program = context["request"].program
    return {"program": program, "uses": agents_use(program=program)}


@register.simple_tag
def merged_histories(account, limit: int = 5) -> list:
    """The accounts merged into `account`, each with its newest events: a surviving account's
    page shows the duplicate's history beside its own."""
    return [
        (merged, account_history(account=merged, limit=limit))
        for merged in account.merged_accounts.order_by("closed_at")
    ]
