"""The managers' history explorer and its CSV export."""

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from ledger import selectors
from ledger.selectors import EXPORT_COLUMNS, event_page, export_rows
from loyalty_admin.decorators import manager_required
from loyalty_admin.pagination import InvalidCursor

from .export import csv_lines
from .forms import HistoryFilterForm


@require_GET
@manager_required
def history(request: HttpRequest) -> TemplateResponse:
    """A page of the matching events. Their totals and chart come in a second request
    (`history_summary`), so the page shows at once however many events match; the next
    and newest pages replace the events only."""
    form = HistoryFilterForm(request.GET, program=request.program)
    context: dict = {"form": form}
    if form.is_valid():
        try:
            context["page"] = event_page(
                query=form.filters(), cursor=request.GET.get("cursor") or None
            )
        except InvalidCursor as exc:
            raise BadRequest(str(exc)) from exc
        context["query"] = form.query_string()
    template_name = "ledger/history.html"
    if request.htmx and not request.htmx.history_restore_request:
        # Paging swaps the events only: the totals and chart, the same for every page, stay.
        paging = request.htmx.target == "history-events" and form.is_valid()
        template_name += "#events" if paging else "#results"
    return TemplateResponse(request, template_name, context, status=200 if form.is_valid() else 422)


@require_GET
@manager_required
def history_summary(request: HttpRequest) -> TemplateResponse:
    """The totals and the chart of the events the explorer's filters match."""
    form = HistoryFilterForm(request.GET, program=request.program)
    if not form.is_valid():
        context = {"form": form}
        return TemplateResponse(request, "ledger/history.html#filter-errors", context, status=422)
    context = {
        "form": form,
        "query": form.query_string(),
        "summary": selectors.history_summary(query=form.filters()),
    }
    return TemplateResponse(request, "ledger/history.html#summary", context)


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
