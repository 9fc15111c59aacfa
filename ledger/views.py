"""Console actions on the ledger: preview and make an adjustment; manage reasons."""

from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import LoyaltyAccount
from accounts.views import HISTORY_PAGE_SIZE, account_or_404, account_page
from loyalty_admin.decorators import manager_required, operator_required

from .exceptions import LedgerError
from .forms import AdjustmentForm, BulkUploadForm, ReasonChangeForm, ReasonForm
from .models import BulkBatch, LoyaltyEvent, Reason
from .selectors import account_history, upcoming_expirations
from .services import (
    add_reason,
    adjust_points,
    change_reason,
    preview_adjustment,
    previous_application,
    set_reason_active,
    submit_bulk,
    upload_bulk,
)
from .tasks import applied_so_far

# --- Adjustments ----------------------------------------------------------------------------


@require_POST
@operator_required
def adjustment_preview(request: HttpRequest, account_id: UUID) -> TemplateResponse:
    account = account_or_404(request, account_id)
    form = AdjustmentForm(request.POST, program=account.program, manager=request.is_manager)
    preview = None
    if form.is_valid():
        preview = preview_adjustment(account=account, actor=request.user, **form.adjustment())
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
        adjustment = form.adjustment()
        try:
            event = adjust_points(
                account=account,
                source=LoyaltyEvent.Source.ADMIN_UI,
                actor=request.user,
                **adjustment,
                **form.event_fields(),
            )
        except LedgerError as error:
            form.add_ledger_error(error)
            # The preview beside the form shows the same refusal and keeps submit disabled.
            preview = preview_adjustment(account=account, actor=request.user, **adjustment)
        else:
            return _adjusted(request, account, event)
    if not request.htmx:
        return account_page(request, account, form=form, preview=preview, status=422)
    context = {"account": account, "form": form, "preview": preview}
    return TemplateResponse(request, "ledger/adjustment.html#adjustment", context, status=422)


def _adjusted(request: HttpRequest, account: LoyaltyAccount, event: LoyaltyEvent) -> HttpResponse:
    if not request.htmx:
        # Post/Redirect/Get: reloading the page afterwards cannot post the form again.
        messages.success(request, _confirmation(account, event))
        return redirect("account", account_id=account.pk)
    account.refresh_from_db()
    context = {
        "account": account,
        "event": event,
        "confirmation": _confirmation(account, event),
        "form": AdjustmentForm(program=account.program, manager=request.is_manager),
        "history": account_history(account=account, limit=HISTORY_PAGE_SIZE),
        "expirations": upcoming_expirations(account=account, limit=5),
    }
    return TemplateResponse(request, "ledger/adjusted.html", context)


def _confirmation(account: LoyaltyAccount, event: LoyaltyEvent) -> str:
    unit = account.program.points_label(event.points).lower()
    return (
        f"{event.points:+,} {unit} for “{event.reason_text}”. New balance: {event.balance_after:,}."
    )


# --- Reasons --------------------------------------------------------------------------------


def _reasons_page(
    request: HttpRequest,
    *,
    form: ReasonForm | None = None,
    changed: tuple[int, ReasonChangeForm] | None = None,
    status: int = 200,
) -> TemplateResponse:
    rows = []
    for reason in Reason.objects.filter(program=request.program):
        if changed and changed[0] == reason.pk:
            rows.append((reason, changed[1]))
            continue
        initial = {
            "label": reason.label,
            "affects_lifetime": reason.affects_lifetime,
            "requires_note": reason.requires_note,
        }
        rows.append((reason, ReasonChangeForm(initial=initial, prefix=f"reason-{reason.pk}")))
    context = {"form": form or ReasonForm(prefix="new"), "rows": rows}
    template_name = "ledger/reasons.html"
    if request.htmx:
        template_name += "#reason-admin"
    return TemplateResponse(request, template_name, context, status=status)


def _reason_saved(request: HttpRequest, message: str) -> HttpResponse:
    messages.success(request, message)
    if not request.htmx:
        return redirect("reasons")
    return _reasons_page(request)


@require_http_methods(["GET", "POST"])
@manager_required
def reasons(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _reasons_page(request)
    form = ReasonForm(request.POST, prefix="new")
    if form.is_valid():
        try:
            reason = add_reason(program=request.program, **form.cleaned_data)
        except LedgerError as error:
            form.add_error(error.field, error.message)
        else:
            return _reason_saved(request, f"Added “{reason.label}”.")
    return _reasons_page(request, form=form, status=422)


@require_POST
@manager_required
def reason_change(request: HttpRequest, reason_id: int) -> HttpResponse:
    reason = get_object_or_404(Reason, pk=reason_id, program=request.program)
    form = ReasonChangeForm(request.POST, prefix=f"reason-{reason.pk}")
    if not form.is_valid():
        return _reasons_page(request, changed=(reason.pk, form), status=422)
    reason = change_reason(reason=reason, **form.cleaned_data)
    return _reason_saved(request, f"Saved “{reason.label}”.")


@require_POST
@manager_required
def reason_active(request: HttpRequest, reason_id: int) -> HttpResponse:
    reason = get_object_or_404(Reason, pk=reason_id, program=request.program)
    active = request.POST.get("active") == "1"
    reason = set_reason_active(reason=reason, active=active)
    verb = "Reactivated" if active else "Deactivated"
    return _reason_saved(request, f"{verb} “{reason.label}”.")


# --- Bulk adjustments -----------------------------------------------------------------------


def _batch_or_404(request: HttpRequest, batch_id: UUID) -> BulkBatch:
    batches = BulkBatch.objects.select_related("uploaded_by")
    return get_object_or_404(batches, pk=batch_id, program=request.program)


@require_http_methods(["GET", "POST"])
@manager_required
def bulk_uploads(request: HttpRequest) -> HttpResponse:
    form = BulkUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        batch, _ = upload_bulk(
            program=request.program,
            uploaded_by=request.user,
            filename=upload.name,
            data=upload.read(),
        )
        return redirect("bulk-batch", batch_id=batch.pk)
    batches = BulkBatch.objects.filter(program=request.program).select_related("uploaded_by")
    context = {"form": form, "batches": batches[:50]}
    return TemplateResponse(
        request, "ledger/bulk.html", context, status=422 if form.errors else 200
    )


@require_GET
@manager_required
def bulk_batch(request: HttpRequest, batch_id: UUID) -> TemplateResponse:
    batch = _batch_or_404(request, batch_id)
    context = {
        "batch": batch,
        "earlier": previous_application(batch),
        "applied_so_far": applied_so_far(batch),
        "unit": request.program.terminology_other.lower(),
    }
    template_name = "ledger/bulk_batch.html"
    if request.htmx:
        template_name += "#batch-status"
    return TemplateResponse(request, template_name, context)


@require_POST
@manager_required
def bulk_apply(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    batch = _batch_or_404(request, batch_id)
    try:
        batch = submit_bulk(batch=batch, allow_duplicate=request.POST.get("allow_duplicate") == "1")
    except LedgerError as error:
        messages.error(request, error.message)
    else:
        if batch.status == BulkBatch.Status.APPLIED:
            messages.success(request, f"Applied {batch.rows_applied:,} adjustments.")
    return redirect("bulk-batch", batch_id=batch.pk)
