"""Who calls the API, what they may do, and how often: keys, scopes, sessions, rate limits.

* API keys (`ApiClient`, only a hash stored): `Authorization: Bearer <key>` for the native API
  and the Square dialect; `x-api-key` + `x-guid` (or `?api_key=` + `guid=`) for the Yotpo
  dialect. Each process remembers the keys in use for a few seconds (`loyalty_admin.api_keys`):
  a revoked key is refused at once by the process that revoked it, and by every other one
  within `API_KEY_CACHE_SECONDS` (5 s by default).
* A key needs the "read" scope to read and "write" to change anything; a view whose POST only
  reads (a search, a preview) says so with `required_scope = "read"`.
* The native API also accepts an operator's session (with CSRF); operators act as themselves.
* Rate limit: a fixed window per key that opens with the key's first request and lasts a
  minute. With `REDIS_URL` the count is one atomic Lua script in Redis, exact across
  processes; without it, Django's cache (local memory: exact per process only). If Redis
  fails the API keeps serving (fails open) and logs a warning.
"""

import logging
import math
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.authentication import (
    BaseAuthentication,
    SessionAuthentication,
    get_authorization_header,
)
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from ledger import lookups
from ledger.exceptions import ProgramNotFound
from ledger.models import LoyaltyEvent
from ledger.services import Actor
from loyalty_admin import api_keys, metrics, request_log
from loyalty_admin.audit import client_ip
from loyalty_admin.models import ApiClient
from loyalty_admin.roles import is_operator

from .errors import (
    native_exception_handler,
    square_exception_handler,
    yotpo_exception_handler,
)
from .schema import ApiAutoSchema

logger = logging.getLogger(__name__)

# Operators' sessions get the same default allowance as a new key.
DEFAULT_RATE_LIMIT = 100
WINDOW_SECONDS = 60
# After Redis fails, skip it for this long rather than wait on it for every request.
REDIS_RETRY_SECONDS = 5.0


# --- Authentication -------------------------------------------------------------------------


class KeyRefused(exceptions.AuthenticationFailed):
    """A real key that may no longer be used (revoked or expired): the refusal still counts
    against the key's rate limit and carries its RateLimit-* headers."""

    def __init__(self, detail: str, *, client: ApiClient) -> None:
        super().__init__(detail)
        self.client = client


def client_for_key(key: str, *, unknown: str = "Unknown or revoked API key.") -> ApiClient:
    """The usable API client holding `key`; AuthenticationFailed (saying `unknown` for a key
    that is not one) otherwise."""
    if not key or len(key) > 200 or "\x00" in key or "." not in key:
        raise exceptions.AuthenticationFailed(unknown)
    client = api_keys.client_for_key(key)
    if client is None:
        known = ApiClient.objects.filter(prefix=key.partition(".")[0]).first()
        if known is not None and known.is_valid(key):
            raise KeyRefused(unknown, client=known)
        raise exceptions.AuthenticationFailed(unknown)
    if client.has_expired:
        raise KeyRefused("This API key has expired.", client=client)
    return client


class BearerKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key>` (the native API and the Square dialect)."""

    def authenticate(self, request: Request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send the header as “Authorization: Bearer KEY”.")
        key = parts[1].decode("latin-1")
        return AnonymousUser(), client_for_key(key)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class YotpoKeyAuthentication(BaseAuthentication):
    """The Yotpo dialect, as Yotpo sends its credentials: `x-api-key` and `x-guid` headers, or
    `api_key` and `guid` query parameters. The GUID names the program (its id or alias; the
    default program when none is sent). A GUID that names no program is refused exactly like
    an unknown key, so that a caller cannot tell which of the two was wrong."""

    UNKNOWN = "Unknown or revoked API key, or a GUID that names no program."

    def authenticate(self, request: Request):
        key = request.headers.get("x-api-key") or request.query_params.get("api_key")
        if not key:
            return None
        client = client_for_key(key, unknown=self.UNKNOWN)
        guid = request.headers.get("x-guid") or request.query_params.get("guid") or "main"
        try:
            request.program = lookups.program(guid)
        except ProgramNotFound:
            raise exceptions.AuthenticationFailed(self.UNKNOWN) from None
        return AnonymousUser(), client

    def authenticate_header(self, request: Request) -> str:
        return 'x-api-key realm="api"'


class OperatorSessionAuthentication(SessionAuthentication):
    """A logged-in operator's session; DRF enforces the CSRF token on unsafe methods."""


def api_client_of(request: Request) -> ApiClient | None:
    return request.auth if isinstance(request.auth, ApiClient) else None


def operator_of(request: Request) -> AbstractBaseUser | None:
    if api_client_of(request) is not None:
        return None
    user = request.user
    return user if is_operator(user) else None


def actor_of(request: Request, *, source: str) -> Actor:
    """Who acts on this authenticated request: its API client, or the operator's session."""
    client = api_client_of(request)
    if client is not None:
        return Actor.of_client(client, source=source, ip=client_ip(request))
    return Actor.of_operator(request.user, source=source, ip=client_ip(request))


# --- Permissions ----------------------------------------------------------------------------


class HasScope(BasePermission):
    """A key needs the view's scope ("read" for safe methods, "write" otherwise by default);
    a session must be an operator's."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        client = api_client_of(request)
        if client is None:
            return operator_of(request) is not None
        scope = getattr(view, "required_scope", None) or (
            "read" if request.method in SAFE_METHODS else "write"
        )
        if not client.has_scope(scope):
            self.message = f"This API key does not have the “{scope}” scope."
            return False
        return True


# --- Rate limit -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    count: int
    reset: int  # seconds until the window closes

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)


# INCR and, when the window's key is new, its expiry: one atomic step, so concurrent requests
# from any number of processes are counted exactly once each.
_COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""

_redis_lock = threading.Lock()
_redis_scripts: dict[str, object] = {}
_redis_down_until: dict[str, float] = {}


def _redis_script(url: str):
    with _redis_lock:
        script = _redis_scripts.get(url)
        if script is None:
            client = redis.Redis.from_url(
                url, socket_connect_timeout=0.5, socket_timeout=0.5, health_check_interval=30
            )
            script = _redis_scripts[url] = client.register_script(_COUNT_SCRIPT)
        return script


def _count_in_redis(url: str, key: str) -> tuple[int, float] | None:
    if _redis_down_until.get(url, 0.0) > time.monotonic():
        return None
    try:
        count, ttl_ms = _redis_script(url)(keys=[key], args=[WINDOW_SECONDS * 1000])
    except (redis.RedisError, OSError) as exc:
        _redis_down_until[url] = time.monotonic() + REDIS_RETRY_SECONDS
        logger.warning("Rate limit not enforced: Redis is unavailable (%s)", exc)
        return None
    return int(count), int(ttl_ms) / 1000


def _count_in_cache(key: str) -> tuple[int, float]:
    # Two keys: the window's start, then a counter named after it, so that the counter of
    # a new window starts at zero even if the old counter has not expired yet.
    now = time.time()
    start = cache.get_or_set(f"{key}:start", now, timeout=WINDOW_SECONDS)
    counter = f"{key}:{start}"
    cache.add(counter, 0, timeout=WINDOW_SECONDS + 1)
    try:
        count = cache.incr(counter)
    except ValueError:  # expired between add and incr
        cache.add(counter, 1, timeout=WINDOW_SECONDS + 1)
        count = 1
    return count, max(0.0, start + WINDOW_SECONDS - now)


def count_request(identity: str, limit: int) -> RateLimitState | None:
    """Count one request of `identity`; None when the count is unavailable (fail open)."""
    key = f"loyalty:ratelimit:{identity}"
    url = getattr(settings, "REDIS_URL", "")
    counted = _count_in_redis(url, key) if url else _count_in_cache(key)
    if counted is None:
        return None
    count, reset = counted
    return RateLimitState(limit=limit, count=count, reset=max(1, math.ceil(reset)))


class KeyRateLimit(BaseThrottle):
    """Per API key (or per operator) requests per minute; see the module docstring."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        client = api_client_of(request)
        operator = operator_of(request)
        if client is not None:
            identity, limit = f"client:{client.prefix}", client.rate_limit
        elif operator is not None:
            identity, limit = f"operator:{operator.pk}", DEFAULT_RATE_LIMIT
        else:
            return True
        self.state = count_request(identity, limit)
        request.rate_limit = self.state
        if self.state is not None and not self.state.allowed:
            metrics.RATE_LIMITED.inc()
            return False
        return True

    def wait(self) -> float:
        return self.state.reset


# --- Base views: one per dialect ------------------------------------------------------------


class ApiView(APIView):
    """Authenticated, scoped, rate-limited; the dialect's exception handler formats errors."""

    schema = ApiAutoSchema()
    permission_classes = [HasScope]
    throttle_classes = [KeyRateLimit]
    required_scope: str | None = None
    # Refusal.field (the services' argument names) → this view's input field names.
    ledger_fields: dict[str, str] = {}
    # The face, as the events made here record it.
    source: str

    def actor(self, request: Request) -> Actor:
        return actor_of(request, source=self.source)

    def perform_authentication(self, request: Request) -> None:
        super().perform_authentication(request)
        client = api_client_of(request)
        if client is not None:
            request_log.note(api_client=client.name)

    def check_permissions(self, request: Request) -> None:
        # Count the request before checking its scope: refused requests count too.
        self.check_throttles(request)
        super().check_permissions(request)

    def check_throttles(self, request: Request) -> None:
        if getattr(request, "_rate_limit_counted", False):
            return
        request._rate_limit_counted = True
        super().check_throttles(request)

    def handle_exception(self, exc: Exception):
        if isinstance(exc, KeyRefused) and getattr(self.request, "rate_limit", None) is None:
            client = exc.client
            self.request.rate_limit = count_request(f"client:{client.prefix}", client.rate_limit)
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        state: RateLimitState | None = getattr(request, "rate_limit", None)
        if state is not None:
            response["RateLimit-Limit"] = str(state.limit)
            response["RateLimit-Remaining"] = str(state.remaining)
            response["RateLimit-Reset"] = str(state.reset)
        return response


class NativeApiView(ApiView):
    authentication_classes = [BearerKeyAuthentication, OperatorSessionAuthentication]
    source = LoyaltyEvent.Source.NATIVE_API

    def get_exception_handler(self):
        return native_exception_handler


class SquareApiView(ApiView):
    authentication_classes = [BearerKeyAuthentication]
    source = LoyaltyEvent.Source.SQUARE_API

    def get_exception_handler(self):
        return square_exception_handler


class YotpoApiView(ApiView):
    """Works inside the program that the request's GUID names (see YotpoKeyAuthentication)."""

    authentication_classes = [YotpoKeyAuthentication]
    source = LoyaltyEvent.Source.YOTPO_API

    def get_exception_handler(self):
        return yotpo_exception_handler

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        self.program = request.program
