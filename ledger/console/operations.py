"""The account page's operations for support: merge a duplicate into this account, transfer
points from it. Each dialog searches, previews (`preview_merge`, `preview_transfer`) and
submits once (`merge_accounts`, `transfer_points`); every rule is the service's."""

from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.models import LoyaltyAccount
from accounts.selectors import search_accounts
from ledger import lookups
from ledger.exceptions import LedgerError
from ledger.services import (
    Operation,
    merge_accounts,
    preview_merge,
    preview_transfer,
    transfer_points,
)
from loyalty_admin.decorators import operator_required

from .access import actor_of, found
from .account import account_or_404, account_page
from .forms import MergeForm, TransferForm

TEMPLATE = "ledger/account_operations.html"
CANDIDATES = 10


def _render(request: HttpRequest, account: LoyaltyAccount, partial: str, status=200, **context):
    """The dialog's fragment for HTMX; without it, the whole page with the dialog open."""
    context = {"account": account, "open": partial.split("-")[0], **context}
    if request.htmx:
        return TemplateResponse(request, f"{TEMPLATE}#{partial}", context, status=status)
    page = account_page(request, account, status=status)
    page.context_data.update(context)
    return page


@require_GET
@operator_required
def candidates(request: HttpRequest, account_id: UUID) -> TemplateResponse:
    """Open accounts of the program that match the query, this one left out."""
    account = account_or_404(request, account_id)
    purpose = "transfer" if request.GET.get("for") == "transfer" else "merge"
    query = request.GET.get("q", "")
    found_accounts = [
        a
        for a in search_accounts(program=account.program, query=query, limit=CANDIDATES + 1)
        if a.pk != account.pk and not a.is_closed
    ][:CANDIDATES]
    return _render(
        request,
        account,
        f"{purpose}-candidates",
        candidates=found_accounts,
        query=query,
    )


def _other(request: HttpRequest, form: MergeForm) -> LoyaltyAccount:
    return found(lookups.account, form.cleaned_data["other"], program=request.program)


# --- Merge ----------------------------------------------------------------------------------


@require_POST
@operator_required
def merge_preview(request: HttpRequest, account_id: UUID) -> TemplateResponse:
    account = account_or_404(request, account_id)
    form = MergeForm(request.POST)
    preview = None
    if form.is_valid():
        preview = preview_merge(
            source=_other(request, form),
            target=account,
            actor=actor_of(request),
            note=form.cleaned_data["note"],
        )
    token = form.idempotency_key if form.is_valid() else None
    return _render(request, account, "merge-preview", form=form, preview=preview, token=token)


@require_POST
@operator_required
def merge_create(request: HttpRequest, account_id: UUID) -> HttpResponse:
    account = account_or_404(request, account_id)
    form = MergeForm(request.POST)
    preview = None
    if form.is_valid():
        duplicate, actor = _other(request, form), actor_of(request)
        note = form.cleaned_data["note"]
        try:
            done = merge_accounts(
                source=duplicate,
                target=account,
                actor=actor,
                note=note,
                idempotency_key=form.idempotency_key,
            )
        except LedgerError as error:
            form.add_ledger_error(error)
            preview = preview_merge(source=duplicate, target=account, actor=actor, note=note)
        else:
            return _done(
                request, account, done, f"Merged {duplicate.display_name} into this account"
            )
    token = form.idempotency_key if form.is_valid() else None
    return _render(request, account, "merge-preview", 422, form=form, preview=preview, token=token)


# --- Transfer -------------------------------------------------------------------------------


def _transfer_form(request: HttpRequest, account: LoyaltyAccount) -> TransferForm:
    return TransferForm(request.POST, program=account.program, manager=request.is_manager)


@require_POST
@operator_required
def transfer_preview(request: HttpRequest, account_id: UUID) -> TemplateResponse:
    account = account_or_404(request, account_id)
    form = _transfer_form(request, account)
    preview = None
    if form.is_valid():
        preview = preview_transfer(
            source=account,
            target=_other(request, form),
            actor=actor_of(request),
            **form.transfer(),
        )
    token = form.idempotency_key if form.is_valid() else None
    return _render(request, account, "transfer-preview", form=form, preview=preview, token=token)


@require_POST
@operator_required
def transfer_create(request: HttpRequest, account_id: UUID) -> HttpResponse:
    account = account_or_404(request, account_id)
    form = _transfer_form(request, account)
    preview = None
    if form.is_valid():
        recipient, actor, arguments = _other(request, form), actor_of(request), form.transfer()
        try:
            done = transfer_points(
                source=account,
                target=recipient,
                actor=actor,
                idempotency_key=form.idempotency_key,
                **arguments,
            )
        except LedgerError as error:
            form.add_ledger_error(error)
            preview = preview_transfer(source=account, target=recipient, actor=actor, **arguments)
        else:
            unit = account.program.points_label(arguments["points"]).lower()
            what = f"Transferred {arguments['points']:,} {unit} to {recipient.display_name}"
            return _done(request, account, done, what)
    token = form.idempotency_key if form.is_valid() else None
    return _render(
        request, account, "transfer-preview", 422, form=form, preview=preview, token=token
    )


def _done(request: HttpRequest, account: LoyaltyAccount, done: Operation, what: str):
    """Back to the account page (Post/Redirect/Get; HTMX follows with a full load)."""
    if done.held:
        messages.success(request, f"Sent to a manager for approval: {what[0].lower()}{what[1:]}.")
    else:
        mine = done.in_event if done.in_event.account_id == account.pk else done.out_event
        messages.success(request, f"{what}. New balance: {mine.balance_after:,}.")
    url = reverse("account", args=[account.pk])
    if request.htmx:
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)
