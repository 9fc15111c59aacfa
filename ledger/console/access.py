"""Who acts on a console request, and what it names: the console's side of the service layer.

Every console view works inside the console's program (`request.program`); anything outside
it, or not there at all, is a 404 page.
"""

from collections.abc import Callable
from typing import TypeVar

from django.http import Http404, HttpRequest

from ledger.exceptions import NotFound
from ledger.services import Actor
from loyalty_admin.audit import client_ip

T = TypeVar("T")


def actor_of(request: HttpRequest) -> Actor:
    return Actor.of_operator(request.user, ip=client_ip(request))


def found(lookup: Callable[..., T], *args: object, **kwargs: object) -> T:
    """`lookup(*args, **kwargs)` from `ledger.lookups`, with NotFound as the 404 page."""
    try:
        return lookup(*args, **kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from None
