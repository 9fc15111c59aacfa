"""The API clients' keys in use, remembered per process for a few seconds.

Every API request presents a key, and checking it in the database would cost a round trip
(and a hash) per request. Each process therefore keeps the clients of the keys it has seen for
at most `API_KEY_CACHE_SECONDS` (settings; 5 by default). Revoking a key forgets every cached
client in the revoking process at once (on commit); other processes refuse the key at the
latest `API_KEY_CACHE_SECONDS` later. That is the revocation bound. Expiry needs no database:
it is checked on every request against the cached client's expiry date.
"""

import hashlib

from .models import ApiClient
from .remembered import Remembered

# At most this many keys are remembered; a process that sees more starts afresh, so its
# memory stays flat whatever keys are thrown at it (unknown keys are never remembered).
MAX_KEYS = 1_000

_clients: Remembered[ApiClient] = Remembered("API_KEY_CACHE_SECONDS", 5.0, max_keys=MAX_KEYS)


def bound_seconds() -> float:
    return _clients.bound_seconds()


def _unrevoked(key: str) -> ApiClient | None:
    try:
        return ApiClient.objects.get_from_key(key)
    except ApiClient.DoesNotExist:
        return None


def client_for_key(key: str) -> ApiClient | None:
    """The unrevoked client holding `key` (expired or not), or None."""
    return _clients.get(hashlib.sha256(key.encode()).digest(), lambda: _unrevoked(key))


def forget_clients() -> None:
    """Drop every cached client: the next request of each key is checked in the database."""
    _clients.forget()
