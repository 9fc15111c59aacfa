from datetime import timedelta

from django.utils import timezone

from ledger.models import LoyaltyEvent

HX = {"HTTP_HX_REQUEST": "true"}


def noon(days_ago: int):
    """Noon, `days_ago` days before today (so that day filters are unambiguous)."""
    today = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def event_row(account, points: int, at, **fields) -> LoyaltyEvent:
    """An event, not yet saved, with no balance chain: history tests need chosen dates and
    sources, not a consistent balance (the ledger's own tests prove that)."""
    fields.setdefault("type", LoyaltyEvent.Type.ADJUST_POINTS)
    fields.setdefault("source", LoyaltyEvent.Source.SYSTEM)
    reason = fields.get("reason")
    if reason is not None:
        fields.setdefault("reason_text", reason.label)
        fields.setdefault("history_title", reason.label)
    return LoyaltyEvent(
        program_id=account.program_id,
        account=account,
        points=points,
        affects_lifetime=points > 0,
        balance_after=0,
        lifetime_after=0,
        created_at=at,
        **fields,
    )


def make_event(account, points: int, *, days_ago: int = 0, at=None, **fields) -> LoyaltyEvent:
    """An event written straight to the table (see event_row)."""
    event = event_row(account, points, at or noon(days_ago), **fields)
    event.save()
    return event
