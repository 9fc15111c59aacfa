"""Times as the APIs write them."""

from datetime import datetime, tzinfo

from django.utils import timezone


def iso_datetime(value: datetime | None, zone: tzinfo | None = None) -> str | None:
    """What DRF's `DateTimeField().to_representation` writes: ISO 8601 in the current time
    zone (or `zone`), with "Z" for UTC. Built directly, because a response of many rows
    writes many times, and a field per value (or DRF's own checks) cost more than the rest of
    the row. Looking the current zone up costs more than writing the time, so a caller that
    writes many passes the zone it looked up once."""
    if value is None:
        return None
    text = timezone.localtime(value, zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
