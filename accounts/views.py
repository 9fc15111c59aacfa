"""Console pages: find a customer, and the customer's page."""

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_http_methods

from ledger.forms import AdjustmentForm
from ledger.selectors import account_approval_requests, account_history, upcoming_expirations
from ledger.services import AdjustmentPreview
from loyalty_admin.decorators import manager_required, operator_required
from loyalty_admin.pagination import InvalidCursor

from .forms import AccountSearchForm, ProgramSettingsForm
from .models import LoyaltyAccount
from .selectors import search_accounts
from .services import update_program

SEARCH_PAGE_SIZE = 20
HISTORY_PAGE_SIZE = 20


def account_or_404(request: HttpRequest, account_id: UUID) -> LoyaltyAccount:
    """An account of the console's program; any other id is a 404."""
    accounts = LoyaltyAccount.objects.select_related("program")
    return get_object_or_404(accounts, pk=account_id, program=request.program)


@require_GET
@operator_required
def search(request: HttpRequest) -> TemplateResponse:
    form = AccountSearchForm(request.GET)
    query, offset = "", 0
    if form.is_valid():
        query, offset = form.cleaned_data["q"], form.cleaned_data["offset"] or 0
    # One row more than a page tells whether there is a next page without counting matches.
    limit = offset + SEARCH_PAGE_SIZE + 1
    found = list(search_accounts(program=request.program, query=query, limit=limit)[offset:])
    context = {
        "form": form,
        "query": query,
        "accounts": found[:SEARCH_PAGE_SIZE],
        "next_offset": offset + SEARCH_PAGE_SIZE if len(found) > SEARCH_PAGE_SIZE else None,
    }
    template_name = "accounts/search.html"
    if request.htmx:
        template_name += "#more-results" if offset else "#results"
    return TemplateResponse(request, template_name, context)


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
    template_name = "accounts/account.html"
    if request.htmx and cursor:
        template_name += "#event-rows"
    return TemplateResponse(request, template_name, context, status=status)


@require_GET
@operator_required
def account_detail(request: HttpRequest, account_id: UUID) -> TemplateResponse:
    account = account_or_404(request, account_id)
    return account_page(request, account, cursor=request.GET.get("cursor") or None)


@require_http_methods(["GET", "POST"])
@manager_required
def program_settings(request: HttpRequest) -> HttpResponse:
    program = request.program
    form = ProgramSettingsForm(request.POST or None, instance=program)
    if request.method == "POST" and form.is_valid():
        update_program(program=program, **{f: form.cleaned_data[f] for f in form.changed_data})
        messages.success(request, "Program settings saved.")
        return redirect("program-settings")
    status = 422 if form.errors else 200
    return TemplateResponse(request, "accounts/program.html", {"form": form}, status=status)
