"""The API clients' keys in use, remembered per process for a few seconds.

Every API request presents a key, and checking it in the database would cost a round trip
(and a hash) per request. Each process therefore keeps the clients of the keys it has seen for
at most `API_KEY_CACHE_SECONDS` (settings; 5 by default). Revoking a key forgets every cached
client in the revoking process at once (on commit); other processes refuse the key at the
latest `API_KEY_CACHE_SECONDS` later. That is the revocation bound. Expiry needs no database:
it is checked on every request against the cached client's expiry date.
"""

import hashlib
import threading
import time

from django.conf import settings

from .models import ApiClient

# The cache holds at most this many keys; a process that sees more starts afresh, so its
# memory stays flat whatever keys are thrown at it (unknown keys are never cached).
MAX_KEYS = 1_000

_lock = threading.Lock()
_clients: dict[bytes, tuple[float, ApiClient]] = {}


def bound_seconds() -> float:
    return float(getattr(settings, "API_KEY_CACHE_SECONDS", 5.0))


def client_for_key(key: str) -> ApiClient | None:
    """The unrevoked client holding `key` (expired or not), or None."""
    digest = hashlib.sha256(key.encode()).digest()
    now = time.monotonic()
    cached = _clients.get(digest)
    if cached is not None and cached[0] > now:
        return cached[1]
    try:
        client = ApiClient.objects.get_from_key(key)
    except ApiClient.DoesNotExist:
        return None
    with _lock:
        if len(_clients) >= MAX_KEYS:
            _clients.clear()
        _clients[digest] = (now + bound_seconds(), client)
    return client


def forget_clients() -> None:
    """Drop every cached client: the next request of each key is checked in the database."""
    with _lock:
        _clients.clear()
