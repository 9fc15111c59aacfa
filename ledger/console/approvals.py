"""Four eyes (managers): the queue of held adjustments, approve or reject."""

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from ledger import lookups
from ledger.exceptions import LedgerError, NotAllowed, SelfApproval
from ledger.models import ApprovalRequest
from ledger.selectors import approval_queue, recent_decisions
from ledger.services import approve_request, reject_request
from loyalty_admin.decorators import manager_required
from loyalty_admin.pagination import InvalidCursor

from .access import actor_of, found
from .forms import ApprovalForm, RejectionForm


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
    return found(lookups.approval_request, approval_id, program=request.program)


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
    form = ApprovalForm(request.POST)
    if not form.is_valid():
        return _decided(request, approval, error="Reload the page and try again.", status=422)
    try:
        event = approve_request(
            request=approval,
            actor=actor_of(request),
            idempotency_key=str(form.cleaned_data["token"] or "") or None,
        )
    except LedgerError as error:
        status = 403 if isinstance(error, (SelfApproval, NotAllowed)) else 422
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
        reject_request(request=approval, actor=actor_of(request), note=form.cleaned_data["note"])
    except LedgerError as error:
        status = 403 if isinstance(error, (SelfApproval, NotAllowed)) else 422
        return _decided(request, approval, error=error.message, status=status)
    return _decided(request, approval, message="Rejected. Nothing changed on the account.")
