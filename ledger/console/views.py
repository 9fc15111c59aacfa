"""Console actions on the ledger: preview and make an adjustment; manage reasons; the
managers' review: history explorer and export, reversals, approvals."""

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import LoyaltyAccount
from ledger.exceptions import LedgerError, SelfApproval
from ledger.models import ApprovalRequest, BulkBatch, LoyaltyEvent, Reason
from ledger.selectors import (
    EXPORT_COLUMNS,
    account_approval_requests,
    account_history,
    approval_queue,
    export_rows,
    history_overview,
    recent_decisions,
    upcoming_expirations,
)
from ledger.services import (
    AdjustmentPreview,
    add_reason,
    adjust_points,
    approve_request,
    change_reason,
    preview_adjustment,
    previous_application,
    reject_request,
    request_adjustment,
    reverse_event,
    set_reason_active,
    submit_bulk,
    upload_bulk,
)
from ledger.tasks import applied_so_far
from loyalty_admin.audit import client_ip
from loyalty_admin.decorators import manager_required, operator_required
from loyalty_admin.pagination import InvalidCursor

from .export import csv_lines
from .forms import (
    AdjustmentForm,
    BulkUploadForm,
    HistoryFilterForm,
    ReasonChangeForm,
    ReasonForm,
    RejectionForm,
    ReversalForm,
)

# --- The account page ----

HISTORY_PAGE_SIZE = 20


def account_or_404(request: HttpRequest, account_id: UUID) -> LoyaltyAccount:
    """An account of the console's program; any other id is a 404."""
    accounts = LoyaltyAccount.objects.select_related("program")
    return get_object_or_404(accounts, pk=account_id, program=request.program)


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
            if preview_adjustment(account=account, actor=request.user, **adjustment).needs_approval:
                approval = request_adjustment(
                    account=account,
                    points=adjustment["points"],
                    reason=adjustment["reason"],
                    note=adjustment["note"],
                    requested_by=request.user,
                    ip=client_ip(request),
                    **form.event_fields(),
                )
                return _requested(request, account, approval)
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
            reason = add_reason(
                program=request.program,
                actor=request.user,
                ip=client_ip(request),
                **form.cleaned_data,
            )
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
    reason = change_reason(
        reason=reason, actor=request.user, ip=client_ip(request), **form.cleaned_data
    )
    return _reason_saved(request, f"Saved “{reason.label}”.")


@require_POST
@manager_required
def reason_active(request: HttpRequest, reason_id: int) -> HttpResponse:
    reason = get_object_or_404(Reason, pk=reason_id, program=request.program)
    active = request.POST.get("active") == "1"
    reason = set_reason_active(
        reason=reason, active=active, actor=request.user, ip=client_ip(request)
    )
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


# --- History explorer and export ------------------------------------------------------------


@require_GET
@manager_required
def history(request: HttpRequest) -> TemplateResponse:
    form = HistoryFilterForm(request.GET, program=request.program)
    context: dict = {"form": form}
    if form.is_valid():
        try:
            context["overview"] = history_overview(
                query=form.filters(),
                cursor=request.GET.get("cursor") or None,
            )
        except InvalidCursor as exc:
            raise BadRequest(str(exc)) from exc
        context["query"] = form.query_string()
    template_name = "ledger/history.html"
    if request.htmx and not request.htmx.history_restore_request:
        template_name += "#results"
    return TemplateResponse(request, template_name, context, status=200 if form.is_valid() else 422)


@require_GET
@manager_required
def history_export(request: HttpRequest) -> HttpResponse:
    form = HistoryFilterForm(request.GET, program=request.program)
    if not form.is_valid():
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        return HttpResponse(problems, status=400, content_type="text/plain; charset=utf-8")
    rows = export_rows(query=form.filters())
    response = StreamingHttpResponse(
        csv_lines(EXPORT_COLUMNS, rows), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="loyalty-history-{stamp}.csv"'
    return response


# --- Reversals ------------------------------------------------------------------------------


def _event_or_404(request: HttpRequest, event_id: UUID) -> LoyaltyEvent:
    events = LoyaltyEvent.objects.select_related(
        "account__program", "reason", "actor", "api_client", "reverses", "reversed_by"
    )
    return get_object_or_404(events, pk=event_id, program=request.program)


@require_GET
@operator_required
def event_detail(request: HttpRequest, event_id: UUID) -> TemplateResponse:
    event = _event_or_404(request, event_id)
    context = {"event": event, "reversal_form": ReversalForm(event=event)}
    return TemplateResponse(request, "ledger/event.html", context)


@require_POST
@manager_required
def event_reverse(request: HttpRequest, event_id: UUID) -> HttpResponse:
    event = _event_or_404(request, event_id)
    form = ReversalForm(request.POST, event=event)
    if form.is_valid():
        try:
            reversal = reverse_event(
                event=event,
                note=form.cleaned_data["note"],
                allow_negative=form.cleaned_data["allow_negative"],
                source=LoyaltyEvent.Source.ADMIN_UI,
                actor=request.user,
                idempotency_key=str(form.cleaned_data["token"]),
                ip=client_ip(request),
            )
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


# --- Approvals ------------------------------------------------------------------------------


@require_GET
@manager_required
def approvals(request: HttpRequest) -> TemplateResponse:
    cursor = request.GET.get("cursor") or None
    try:
        queue = approval_queue(program=request.program, cursor=cursor)
    except InvalidCursor as exc:
        raise BadRequest(str(exc)) from exc
    context = {
        "queue": queue,
        "cursor": cursor,
        "decisions": recent_decisions(program=request.program),
    }
    template_name = "ledger/approvals.html"
    if request.htmx and cursor:
        template_name += "#queue-items"
    return TemplateResponse(request, template_name, context)


def _approval_or_404(request: HttpRequest, approval_id: UUID) -> ApprovalRequest:
    requests = ApprovalRequest.objects.select_related(
        "account__program", "reason", "requested_by", "decided_by", "event"
    )
    return get_object_or_404(requests, pk=approval_id, program=request.program)


def _decided(
    request: HttpRequest,
    approval: ApprovalRequest,
    *,
    message: str = "",
    error: str = "",
    rejection_form: RejectionForm | None = None,
    status: int = 200,
) -> HttpResponse:
    if not request.htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(request, message)
        return redirect("approvals")
    approval = _approval_or_404(request, approval.pk)
    context = {
        "item": approval,
        "message": message,
        "error": error,
        "rejection_form": rejection_form,
    }
    return TemplateResponse(request, "ledger/approvals.html#decided", context, status=status)


@require_POST
@manager_required
def approval_approve(request: HttpRequest, approval_id: UUID) -> HttpResponse:
    approval = _approval_or_404(request, approval_id)
    try:
        event = approve_request(
            request=approval,
            manager=request.user,
            idempotency_key=str(approval.pk),
            ip=client_ip(request),
        )
    except LedgerError as error:
        status = 403 if isinstance(error, SelfApproval) else 422
        return _decided(request, approval, error=error.message, status=status)
    unit = approval.account.program.points_label(event.points).lower()
    message = f"Approved: {event.points:+,} {unit}. New balance: {event.balance_after:,}."
    return _decided(request, approval, message=message)


@require_POST
@manager_required
def approval_reject(request: HttpRequest, approval_id: UUID) -> HttpResponse:
    approval = _approval_or_404(request, approval_id)
    form = RejectionForm(request.POST, request_id=approval.pk)
    if not form.is_valid():
        return _decided(request, approval, error="Say why.", rejection_form=form, status=422)
    try:
        reject_request(
            request=approval,
            manager=request.user,
            note=form.cleaned_data["note"],
            ip=client_ip(request),
        )
    except LedgerError as error:
        status = 403 if isinstance(error, SelfApproval) else 422
        return _decided(request, approval, error=error.message, status=status)
    return _decided(request, approval, message="Rejected. Nothing changed on the account.")
