"""Bulk adjustments (managers): upload a CSV, see the check, apply it all or nothing."""

from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ledger import lookups
from ledger.exceptions import LedgerError
from ledger.models import BulkBatch
from ledger.services import (
    applied_so_far,
    apply_or_queue_batch,
    previous_application,
    upload_bulk_file,
)
from loyalty_admin.decorators import manager_required

from .access import actor_of, found
from .forms import BulkUploadForm


def _batch_or_404(request: HttpRequest, batch_id: UUID) -> BulkBatch:
    return found(lookups.batch, batch_id, program=request.program)


@require_http_methods(["GET", "POST"])
@manager_required
def bulk_uploads(request: HttpRequest) -> HttpResponse:
    form = BulkUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        batch, _ = upload_bulk_file(
            program=request.program,
            actor=actor_of(request),
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
        batch = apply_or_queue_batch(
            batch=batch,
            actor=actor_of(request),
            allow_duplicate=request.POST.get("allow_duplicate") == "1",
        )
    except LedgerError as error:
        messages.error(request, error.message)
    else:
        if batch.status == BulkBatch.Status.APPLIED:
            messages.success(request, f"Applied {batch.rows_applied:,} adjustments.")
    return redirect("bulk-batch", batch_id=batch.pk)
