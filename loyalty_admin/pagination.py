"""Keyset ("cursor") pagination over (created_at, id).

Unlike OFFSET, a keyset page costs the same at any depth, and rows inserted while a client
pages through are neither skipped nor repeated.
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from django.db.models import Model, Q, QuerySet

T = TypeVar("T", bound=Model)


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class KeysetPage(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(created_at: datetime, pk: object) -> str:
    raw = f"{created_at.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, pk = raw.split("|", 1)
        created_at = datetime.fromisoformat(stamp)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("The cursor is not one this server gave out.") from exc
    if created_at.tzinfo is None or not pk:
        raise InvalidCursor("The cursor is not one this server gave out.")
    return created_at, pk


def keyset_page(
    queryset: QuerySet[T], *, cursor: str | None, limit: int, newest_first: bool = True
) -> KeysetPage[T]:
    """One page of `queryset` ordered by (created_at, id), starting after `cursor`."""
    if newest_first:
        queryset = queryset.order_by("-created_at", "-id")
    else:
        queryset = queryset.order_by("created_at", "id")
    if cursor:
        created_at, pk = decode_cursor(cursor)
        op = "lt" if newest_first else "gt"
        try:
            # The first condition says nothing new, but it is a bound the (..., created_at, id)
            # index can start from; the OR alone is only a filter, which both engines apply
            # while reading (and skipping) every row before the cursor.
            queryset = queryset.filter(
                Q(**{f"created_at__{op}e": created_at}),
                Q(**{f"created_at__{op}": created_at}) | Q(**{f"id__{op}": pk}),
            )
        except Exception as exc:  # a malformed id, e.g. not a UUID
            raise InvalidCursor("The cursor is not one this server gave out.") from exc
    items = list(queryset[: limit + 1])
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        next_cursor = encode_cursor(last.created_at, last.pk)
    return KeysetPage(items=items, next_cursor=next_cursor)
