"""Console pages of the operator side: the audit log, people (operators and API clients)."""

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .audit import client_ip
from .decorators import manager_required
from .forms import ApiClientForm, AuditFilterForm, InviteForm, RoleForm
from .models import ApiClient
from .pagination import InvalidCursor
from .selectors import api_clients as api_client_list
from .selectors import audit_log, operators
from .services import (
    OperatorRefused,
    change_operator_role,
    invite_operator,
    issue_api_client,
    set_operator_active,
    withdraw_api_client,
)

# --- Audit ----------------------------------------------------------------------------------


@require_GET
@manager_required
def audit(request: HttpRequest) -> TemplateResponse:
    form = AuditFilterForm(request.GET)
    context: dict = {"form": form}
    if form.is_valid():
        try:
            context["log"] = audit_log(**form.cleaned_data, cursor=request.GET.get("cursor"))
        except InvalidCursor as exc:
            raise BadRequest(str(exc)) from exc
        context["query"] = request.GET.copy()
        context["query"].pop("cursor", None)
        context["query"] = context["query"].urlencode()
    template_name = "loyalty_admin/audit.html"
    if request.htmx and not request.htmx.history_restore_request:
        template_name += "#entries"
    return TemplateResponse(request, template_name, context, status=200 if form.is_valid() else 422)


# --- Operators ------------------------------------------------------------------------------


def _people_page(
    request: HttpRequest,
    *,
    form: InviteForm | None = None,
    invited: tuple | None = None,
    error: str = "",
    status: int = 200,
) -> TemplateResponse:
    context = {
        "form": form or InviteForm(),
        "operators": operators(),
        "invited": invited,
        "error": error,
    }
    template_name = "loyalty_admin/people.html"
    if request.htmx:
        template_name += "#people"
    return TemplateResponse(request, template_name, context, status=status)


@require_http_methods(["GET", "POST"])
@manager_required
def people(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _people_page(request)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            user, password = invite_operator(
                **form.cleaned_data, by=request.user, ip=client_ip(request)
            )
        except OperatorRefused as error:
            form.add_error("email", str(error))
        else:
            # The password is shown in this response only: never stored in a message or session.
            return _people_page(request, invited=(user, password))
    return _people_page(request, form=form, status=422)


def _operator_or_404(operator_id: int):
    return get_object_or_404(operators(), pk=operator_id)


def _operator_saved(request: HttpRequest, message: str = "", error: str = "") -> HttpResponse:
    if not request.htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(request, message)
        return redirect("people")
    if message:
        messages.success(request, message)
    return _people_page(request, error=error, status=422 if error else 200)


@require_POST
@manager_required
def operator_role(request: HttpRequest, operator_id: int) -> HttpResponse:
    operator = _operator_or_404(operator_id)
    form = RoleForm(request.POST, prefix=f"operator-{operator.pk}")
    if not form.is_valid():
        return _operator_saved(request, error="Choose agent or manager.")
    try:
        change_operator_role(
            operator=operator,
            role=form.cleaned_data["role"],
            by=request.user,
            ip=client_ip(request),
        )
    except OperatorRefused as error:
        return _operator_saved(request, error=str(error))
    return _operator_saved(request, f"{operator.email} is now {form.cleaned_data['role']}.")


@require_POST
@manager_required
def operator_active(request: HttpRequest, operator_id: int) -> HttpResponse:
    operator = _operator_or_404(operator_id)
    active = request.POST.get("active") == "1"
    try:
        set_operator_active(
            operator=operator, active=active, by=request.user, ip=client_ip(request)
        )
    except OperatorRefused as error:
        return _operator_saved(request, error=str(error))
    verb = "Reactivated" if active else "Deactivated"
    return _operator_saved(request, f"{verb} {operator.email}.")


# --- API clients ----------------------------------------------------------------------------


def _api_clients_page(
    request: HttpRequest,
    *,
    form: ApiClientForm | None = None,
    created: tuple | None = None,
    status: int = 200,
) -> TemplateResponse:
    context = {"form": form or ApiClientForm(), "clients": api_client_list(), "created": created}
    template_name = "loyalty_admin/api_clients.html"
    if request.htmx:
        template_name += "#api-clients"
    return TemplateResponse(request, template_name, context, status=status)


@require_http_methods(["GET", "POST"])
@manager_required
def api_clients(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _api_clients_page(request)
    form = ApiClientForm(request.POST)
    if not form.is_valid():
        return _api_clients_page(request, form=form, status=422)
    client, key = issue_api_client(**form.cleaned_data, by=request.user, ip=client_ip(request))
    # The key is shown in this response only; only its hash is stored.
    return _api_clients_page(request, created=(client, key))


@require_POST
@manager_required
def api_client_revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    client = get_object_or_404(ApiClient, prefix=prefix)
    withdraw_api_client(client=client, by=request.user, ip=client_ip(request))
    messages.success(request, f"Revoked the key “{client.name}”. Calls with it now get 401.")
    if not request.htmx:
        return redirect("api-clients")
    return _api_clients_page(request)
