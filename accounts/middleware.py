"""The console works in one program: `request.program`, read when a view first needs it.

Only a signed-in user's requests have one, so pages for everyone else (the login page) show
no program's navigation."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from .selectors import default_program


class ConsoleProgramMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            request.program = SimpleLazyObject(default_program)
        return self.get_response(request)
