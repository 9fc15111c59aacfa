"""The program's adjustment reasons (managers)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods, require_POST

from ledger.exceptions import LedgerError
from ledger.models import Reason
from ledger.services import add_reason, change_reason, set_reason_active
from loyalty_admin.decorators import manager_required

from .access import actor_of
from .forms import ReasonChangeForm, ReasonForm


def _reason_or_404(request: HttpRequest, reason_id: int) -> Reason:
    return get_object_or_404(Reason, pk=reason_id, program=request.program)


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
                program=request.program, actor=actor_of(request), **form.cleaned_data
            )
        except LedgerError as error:
            form.add_error(error.field, error.message)
        else:
            return _reason_saved(request, f"Added “{reason.label}”.")
    return _reasons_page(request, form=form, status=422)


@require_POST
@manager_required
def reason_change(request: HttpRequest, reason_id: int) -> HttpResponse:
    reason = _reason_or_404(request, reason_id)
    form = ReasonChangeForm(request.POST, prefix=f"reason-{reason.pk}")
    if not form.is_valid():
        return _reasons_page(request, changed=(reason.pk, form), status=422)
    reason = change_reason(reason=reason, actor=actor_of(request), **form.cleaned_data)
    return _reason_saved(request, f"Saved “{reason.label}”.")


@require_POST
@manager_required
def reason_active(request: HttpRequest, reason_id: int) -> HttpResponse:
    reason = _reason_or_404(request, reason_id)
    active = request.POST.get("active") == "1"
    reason = set_reason_active(reason=reason, active=active, actor=actor_of(request))
    verb = "Reactivated" if active else "Deactivated"
    return _reason_saved(request, f"{verb} “{reason.label}”.")
