"""One event's page, and reversing it (the service decides who may)."""

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from ledger import lookups
from ledger.exceptions import LedgerError, NotAllowed
from ledger.models import LoyaltyEvent
from ledger.selectors import account_history
from ledger.services import reverse_event
from loyalty_admin.decorators import operator_required

from .access import actor_of, found
from .account import HISTORY_PAGE_SIZE
from .forms import ReversalForm


def _event_or_404(request: HttpRequest, event_id: UUID) -> LoyaltyEvent:
    return found(lookups.event, event_id, program=request.program)


@require_GET
@operator_required
def event_detail(request: HttpRequest, event_id: UUID) -> TemplateResponse:
    event = _event_or_404(request, event_id)
    context = {"event": event, "reversal_form": ReversalForm(event=event)}
    return TemplateResponse(request, "ledger/event.html", context)


@require_POST
@operator_required
def event_reverse(request: HttpRequest, event_id: UUID) -> HttpResponse:
    event = _event_or_404(request, event_id)
    form = ReversalForm(request.POST, event=event)
    if form.is_valid():
        try:
            reversal = reverse_event(
                event=event,
                note=form.cleaned_data["note"],
                allow_negative=form.cleaned_data["allow_negative"],
                actor=actor_of(request),
                idempotency_key=str(form.cleaned_data["token"]),
            )
        except NotAllowed as error:
            raise PermissionDenied(error.message) from error
        except LedgerError as error:
            form.add_error("note", error.message)
        else:
            return _reversed(request, event, reversal, form.cleaned_data["origin"])
    context = {"event": event, "reversal_form": form}
    if request.htmx:
        return TemplateResponse(request, "ledger/event.html#reversal-oob", context, status=422)
    return TemplateResponse(request, "ledger/event.html", context, status=422)


def _reversed(
    request: HttpRequest, event: LoyaltyEvent, reversal: LoyaltyEvent, origin: str
) -> HttpResponse:
    account = reversal.account
    unit = account.program.points_label(reversal.points).lower()
    confirmation = (
        f"Reversed: {reversal.points:+,} {unit}. New balance: {reversal.balance_after:,}."
    )
    if not request.htmx:
        messages.success(request, confirmation)
        if origin == "account":
            return redirect("account", account_id=account.pk)
        return redirect("event", event_id=event.pk)
    event = _event_or_404(request, event.pk)
    context = {"event": event, "account": account, "confirmation": confirmation, "origin": origin}
    if origin == "account":
        account.refresh_from_db()
        context["history"] = account_history(account=account, limit=HISTORY_PAGE_SIZE)
    return TemplateResponse(request, "ledger/reversed.html", context)
