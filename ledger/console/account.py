"""The customer's page and what an agent does there: preview and make an adjustment."""

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from accounts.models import LoyaltyAccount
from ledger import lookups
from ledger.exceptions import LedgerError
from ledger.models import ApprovalRequest, LoyaltyEvent
from ledger.selectors import account_approval_requests, account_history, upcoming_expirations
from ledger.services import AdjustmentPreview, adjust_points, preview_adjustment
from loyalty_admin import metrics
from loyalty_admin.decorators import operator_required
from loyalty_admin.pagination import InvalidCursor

from .access import actor_of, found
from .forms import AdjustmentForm

HISTORY_PAGE_SIZE = 20


def account_or_404(request: HttpRequest, account_id: UUID) -> LoyaltyAccount:
    """An account of the console's program; any other id is a 404."""
    return found(lookups.account, account_id, program=request.program)


def account_page(
    request: HttpRequest,
    account: LoyaltyAccount,
    *,
    form: AdjustmentForm | None = None,
    preview: AdjustmentPreview | None = None,
    cursor: str | None = None,
    status: int = 200,
) -> TemplateResponse:
    """The customer's page; the adjustment view re-renders it when a plain POST fails."""
    try:
        history = account_history(account=account, cursor=cursor, limit=HISTORY_PAGE_SIZE)
    except InvalidCursor as exc:
        raise BadRequest(str(exc)) from exc
    if form is None:
        form = AdjustmentForm(program=account.program, manager=request.is_manager)
    context = {
        "account": account,
        "history": history,
        "form": form,
        "preview": preview,
        "cursor": cursor,
        "expirations": upcoming_expirations(account=account, limit=5),
        "approval_requests": account_approval_requests(account=account),
    }
    template_name = "ledger/account.html"
    if request.htmx and cursor:
        template_name += "#event-rows"
    return TemplateResponse(request, template_name, context, status=status)


@require_GET
@operator_required
def account_detail(request: HttpRequest, account_id: UUID) -> TemplateResponse:
    account = account_or_404(request, account_id)
    return account_page(request, account, cursor=request.GET.get("cursor") or None)


# --- Adjustments ----------------------------------------------------------------------------


@require_POST
@operator_required
def adjustment_preview(request: HttpRequest, account_id: UUID) -> TemplateResponse:
    account = account_or_404(request, account_id)
    form = AdjustmentForm(request.POST, program=account.program, manager=request.is_manager)
    preview = None
    if form.is_valid():
        preview = preview_adjustment(account=account, actor=actor_of(request), **form.adjustment())
    if not request.htmx:
        return account_page(request, account, form=form, preview=preview)
    context = {"account": account, "form": form, "preview": preview}
    return TemplateResponse(request, "ledger/adjustment.html#preview", context)


@require_POST
@operator_required
def adjustment_create(request: HttpRequest, account_id: UUID) -> HttpResponse:
    account = account_or_404(request, account_id)
    form = AdjustmentForm(request.POST, program=account.program, manager=request.is_manager)
    preview = None
    if form.is_valid():
        actor, arguments = actor_of(request), form.adjustment()
        try:
            adjustment = adjust_points(
                account=account, actor=actor, **arguments, **form.event_fields()
            )
        except LedgerError as error:
            metrics.count_refusal(face=actor.source, code=error.code)
            form.add_ledger_error(error)
            # The preview beside the form shows the same refusal and keeps submit disabled.
            preview = preview_adjustment(account=account, actor=actor, **arguments)
        else:
            if adjustment.held:
                return _requested(request, account, adjustment.approval)
            return _adjusted(request, account, adjustment.event)
    if not request.htmx:
        return account_page(request, account, form=form, preview=preview, status=422)
    if preview is not None:
        # Refused because the account changed meanwhile: show its balance and history as now.
        return _refreshed(request, account, form=form, preview=preview, status=422)
    context = {"account": account, "form": form, "preview": preview}
    return TemplateResponse(request, "ledger/adjustment.html#adjustment", context, status=422)


def _adjusted(request: HttpRequest, account: LoyaltyAccount, event: LoyaltyEvent) -> HttpResponse:
    if not request.htmx:
        # Post/Redirect/Get: reloading the page afterwards cannot post the form again.
        messages.success(request, _confirmation(account, event))
        return redirect("account", account_id=account.pk)
    return _refreshed(
        request,
        account,
        confirmation=_confirmation(account, event),
        form=AdjustmentForm(program=account.program, manager=request.is_manager),
    )


def _refreshed(
    request: HttpRequest,
    account: LoyaltyAccount,
    *,
    form: AdjustmentForm,
    confirmation: str = "",
    preview: AdjustmentPreview | None = None,
    status: int = 200,
) -> TemplateResponse:
    """The adjustment form with the account's summary and history as they now are."""
    account.refresh_from_db()
    context = {
        "account": account,
        "confirmation": confirmation,
        "form": form,
        "preview": preview,
        "history": account_history(account=account, limit=HISTORY_PAGE_SIZE),
        "expirations": upcoming_expirations(account=account, limit=5),
    }
    return TemplateResponse(request, "ledger/adjusted.html", context, status=status)


def _requested(
    request: HttpRequest, account: LoyaltyAccount, approval: ApprovalRequest
) -> HttpResponse:
    unit = account.program.points_label(approval.points).lower()
    confirmation = (
        f"Sent to a manager for approval: {approval.points:+,} {unit} for "
        f"“{approval.reason.label}”. The balance changes once it is approved."
    )
    if not request.htmx:
        messages.success(request, confirmation)
        return redirect("account", account_id=account.pk)
    context = {
        "account": account,
        "confirmation": confirmation,
        "form": AdjustmentForm(program=account.program, manager=request.is_manager),
        "approval_requests": account_approval_requests(account=account),
    }
    return TemplateResponse(request, "ledger/requested.html", context)


def _confirmation(account: LoyaltyAccount, event: LoyaltyEvent) -> str:
    unit = account.program.points_label(event.points).lower()
    return (
        f"{event.points:+,} {unit} for “{event.reason_text}”. New balance: {event.balance_after:,}."
    )
