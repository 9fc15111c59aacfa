"""One log line per request, and the request id on every line logged while serving it.

django-structlog's middleware logs `request_finished` with the status; the receivers here add
the duration, the operator or API client, and the account touched. `RequestIdMiddleware`
decides the request id: the `X-Request-ID` a trusted proxy (TRUSTED_PROXIES) sent, else a new
UUID. It is returned in the response's `X-Request-ID`, bound to every log line (structlog's
context variables, merged into stdlib records too), and stamped on the ledger events and audit
entries the request writes (`current_request_id`).

LOG_FORMAT=json writes one JSON object per line (the default when DEBUG is off);
LOG_FORMAT=console writes aligned, human-readable lines (the default under `make run`).
"""

import ipaddress
import re
import time
import uuid
from collections.abc import Callable

import structlog
from django.conf import settings
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils.functional import empty
from django_structlog import signals

# What a proxy's request id may look like: enough for UUIDs and most tracing formats.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


def _request_id_of_record(logger, method_name: str, event_dict: dict) -> dict:
    # Django logs a 4xx/5xx ("Bad Request: /path") after the middleware has returned and
    # the context is cleared, but passes the request along: take the id from it.
    request = getattr(event_dict.get("_record"), "request", None)
    request_id = getattr(request, "request_id", None)
    if request_id and "request_id" not in event_dict:
        event_dict["request_id"] = request_id
    return event_dict


SHARED_PROCESSORS = [
    structlog.contextvars.merge_contextvars,
    _request_id_of_record,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_structlog() -> None:
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def formatter(*, json: bool) -> structlog.stdlib.ProcessorFormatter:
    """The logging formatter for structlog's events and stdlib records alike."""
    renderer = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([structlog.processors.dict_tracebacks] if json else []),
            renderer,
        ],
    )


def current_request_id() -> str:
    """The id of the request being served ("" outside one: commands, the job worker)."""
    return structlog.contextvars.get_contextvars().get("request_id", "")


def note(**values: object) -> None:
    """Add fields (account, api_client…) to this request's log lines from here on. Outside
    a request (a command, the job worker) nothing is bound, so nothing stale lingers."""
    if current_request_id():
        structlog.contextvars.bind_contextvars(**values)


def _from_trusted_proxy(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n) for n in settings.TRUSTED_PROXIES)


class RequestIdMiddleware:
    """Outermost: picks the request id before django-structlog binds it, and returns it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sent = request.META.get("HTTP_X_REQUEST_ID", "")
        if not (sent and _REQUEST_ID.match(sent) and _from_trusted_proxy(request)):
            sent = str(uuid.uuid4())
        request.META["HTTP_X_REQUEST_ID"] = request.request_id = sent
        request.started = time.monotonic()
        response = self.get_response(request)
        response["X-Request-ID"] = sent
        return response


def _caller(request: HttpRequest) -> dict[str, object]:
    # Only a user some earlier layer already loaded: logging must not cost a query.
    user = getattr(request, "user", None)
    if user is None or getattr(user, "_wrapped", None) is empty:
        return {}
    if user.is_authenticated:
        return {"operator": user.get_username()}
    return {}


@receiver(signals.bind_extra_request_finished_metadata, dispatch_uid="request_log_finished")
def _finished(request: HttpRequest, response: HttpResponse, log_kwargs: dict, **kwargs) -> None:
    started = getattr(request, "started", None)
    if started is not None:
        log_kwargs["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    # REMOTE_ADDR, as the audit log records it: X-Forwarded-For is whatever a client says.
    log_kwargs["ip"] = request.META.get("REMOTE_ADDR") or None
    log_kwargs.update(_caller(request))
    if request.resolver_match is not None:
        log_kwargs["view"] = request.resolver_match.view_name
        account = request.resolver_match.kwargs.get("account_id")
        if account is not None and "account" not in structlog.contextvars.get_contextvars():
            log_kwargs["account"] = str(account)
