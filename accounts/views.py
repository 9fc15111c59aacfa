"""Console pages of this app: find a customer; the program's settings."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_http_methods

from loyalty_admin.decorators import manager_required, operator_required
from loyalty_admin.refusals import Refusal

from .forms import AccountSearchForm, ProgramSettingsForm
from .selectors import search_page
from .services import update_program

SEARCH_PAGE_SIZE = 20


@require_GET
@operator_required
def search(request: HttpRequest) -> TemplateResponse:
    form = AccountSearchForm(request.GET)
    query, offset = "", 0
    if form.is_valid():
        query, offset = form.cleaned_data["q"], form.cleaned_data["offset"] or 0
    page = search_page(program=request.program, query=query, offset=offset, size=SEARCH_PAGE_SIZE)
    context = {
        "form": form,
        "query": query,
        "accounts": page.accounts,
        "next_offset": page.next_offset,
        "summary": page.summary,
    }
    template_name = "accounts/search.html"
    if request.htmx:
        template_name += "#more-results" if offset else "#results"
    return TemplateResponse(request, template_name, context)


@require_http_methods(["GET", "POST"])
@manager_required
def program_settings(request: HttpRequest) -> HttpResponse:
    program = request.program
    form = ProgramSettingsForm(request.POST or None, instance=program)
    if request.method == "POST" and form.is_valid():
        try:
            update_program(program=program, **{f: form.cleaned_data[f] for f in form.changed_data})
        except Refusal as refusal:
            form.add_error(refusal.field, refusal.message)
        else:
            messages.success(request, "Program settings saved.")
            return redirect("program-settings")
    status = 422 if form.errors else 200
    return TemplateResponse(request, "accounts/program.html", {"form": form}, status=status)
