"""Preconditions of console views: who may open them."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django_htmx.http import HttpResponseClientRedirect

from .roles import is_manager, is_operator

View = Callable[..., HttpResponse]


def operator_required(view: View) -> View:
    """A logged-in operator, or the login page. Sets `request.is_manager`; the console's
    program (`request.program`) comes from `accounts.middleware`."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            if request.htmx:
                # A redirect would be followed inside the XHR and swap the login page into a
                # fragment; ask htmx to load it as a whole page instead.
                return HttpResponseClientRedirect(redirect_to_login(request.get_full_path()).url)
            return redirect_to_login(request.get_full_path())
        # Roles are read several times per request (views, templates): one query for all.
        prefetch_related_objects([request.user], "groups")
        if not is_operator(request.user):
            raise PermissionDenied
        request.is_manager = is_manager(request.user)
        return view(request, *args, **kwargs)

    return wrapper


def manager_required(view: View) -> View:
    """A logged-in manager; other operators get 403."""

    @wraps(view)
    def check_role(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.is_manager:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return operator_required(check_role)
