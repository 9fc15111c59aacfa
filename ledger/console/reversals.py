"""One event's page, and reversing it (the service decides who may)."""

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from accounts.models import LoyaltyAccount
from ledger import lookups
from ledger.exceptions import AlreadyReversed, LedgerError, NotAllowed
from ledger.models import LoyaltyEvent
from ledger.selectors import account_history, upcoming_expirations
from ledger.services import reverse_event
from loyalty_admin.decorators import manager_required, operator_required

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


@require_GET
@manager_required
def reversal_form(request: HttpRequest, event_id: UUID) -> TemplateResponse:
    """The form a row's "Reverse…" fetches when it is opened: pages stay small without it."""
    event = _event_or_404(request, event_id)
    if not request.htmx:
        return event_detail(request, event_id)
    origin = request.GET.get("origin")
    if origin not in dict(ReversalForm.base_fields["origin"].choices):
        origin = "event"
    context = {
        "event": event,
        "reversal_form": ReversalForm(event=event, initial={"origin": origin}),
        "focus": True,
    }
    return TemplateResponse(request, "ledger/event.html#reversal-form", context)


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
            if request.htmx and form.cleaned_data["origin"] == "account":
                # The balance may have moved meanwhile; once reversed elsewhere, the history too.
                if isinstance(error, AlreadyReversed):
                    return _account_refreshed(request, event.account, error=error.message)
                return _account_refreshed(request, event.account, event=event, reversal_form=form)
        else:
            return _reversed(request, event, reversal, form.cleaned_data["origin"])
    context = {"event": event, "reversal_form": form}
    if request.htmx:
        return TemplateResponse(request, "ledger/event.html#reversal-oob", context, status=422)
    return TemplateResponse(request, "ledger/event.html", context, status=422)


def _account_refreshed(
    request: HttpRequest,
    account: LoyaltyAccount,
    *,
    confirmation: str = "",
    error: str = "",
    event: LoyaltyEvent | None = None,
    reversal_form: ReversalForm | None = None,
) -> TemplateResponse:
    """The account page's balance as it is now, and what happened: after a reversal, or a
    refusal because the event was reversed meanwhile (another tab), the history as it now is
    and a notice; after another refusal, the row's form with its error."""
    account.refresh_from_db()
    context = {
        "account": account,
        "confirmation": confirmation,
        "error": error,
        "event": event,
        "reversal_form": reversal_form,
        "expirations": upcoming_expirations(account=account, limit=5),
    }
    if reversal_form is None:
        context["history"] = account_history(account=account, limit=HISTORY_PAGE_SIZE)
    refused = error or reversal_form is not None
    return TemplateResponse(
        request, "ledger/reversed.html", context, status=422 if refused else 200
    )


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
    if origin == "account":
        return _account_refreshed(request, account, confirmation=confirmation)
    event = _event_or_404(request, event.pk)
    context = {"event": event, "reversal_confirmation": confirmation}
    return TemplateResponse(request, "ledger/event.html#reversal-oob", context)
