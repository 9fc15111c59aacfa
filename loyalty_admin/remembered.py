"""What a process remembers of rarely changed rows, for a bounded time.

Every API request presents a key, every adjustment names a reason and may notify webhook
subscriptions; reading those from the database (or the shared cache) each time would cost a
round trip per request for rows that change a few times a year. A `Remembered` keeps what it
loaded, by key, for at most a number of seconds read from the settings. The services that
change such a row forget it on commit, so the change is seen at once by the process that made
it, and by every other process at the latest that many seconds later: the bound each use
states and tests.
"""

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from django.conf import settings

V = TypeVar("V")


class Remembered(Generic[V]):
    """Values by key, each kept for at most `settings.<setting>` seconds (`default` when the
    setting is absent). With `max_keys`, a process that has seen more keys starts afresh, so
    its memory stays flat whatever keys are thrown at it."""

    def __init__(self, setting: str, default: float, *, max_keys: int | None = None) -> None:
        self.setting, self.default, self.max_keys = setting, default, max_keys
        self._lock = threading.Lock()
        self._values: dict[Hashable, tuple[float, V]] = {}

    def bound_seconds(self) -> float:
        return float(getattr(settings, self.setting, self.default))

    def get(self, key: Hashable, load: Callable[[], V | None]) -> V | None:
        """The value remembered for `key`, or `load()`'s, remembered unless it is None."""
        now = time.monotonic()
        kept = self._values.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
        value = load()
        if value is not None:
            with self._lock:
                if self.max_keys is not None and len(self._values) >= self.max_keys:
                    self._values.clear()
                self._values[key] = (now + self.bound_seconds(), value)
        return value

    def forget(self, key: Hashable | None = None) -> None:
        """Forget `key`'s value (every value when None): the next `get` loads it."""
        with self._lock:
            if key is None:
                self._values.clear()
            else:
                self._values.pop(key, None)
