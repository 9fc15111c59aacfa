"""Reads of the ledger, one module per concern; the public names are re-exported here so that
callers import them from `ledger.selectors`."""

from .approvals import (
    account_approval_requests,
    approval_queue,
    pending_approvals_count,
    recent_decisions,
)
from .customers import Purchases, history_with_pending, purchases, rewards_taken
from .events import (
    EXPORT_COLUMNS,
    EventQuery,
    HistorySummary,
    HistoryTotals,
    Shown,
    account_history,
    event_page,
    export_rows,
    history_summary,
    matching_events,
)
from .integrity import (
    Discrepancy,
    ledger_discrepancies,
    reference_discrepancies,
    tally_discrepancies,
)
from .lots import ExpiryDeadline, upcoming_expirations
from .rewards import account_rewards, open_rewards, reward_tiers

__all__ = [
    "EXPORT_COLUMNS",
    "Discrepancy",
    "EventQuery",
    "ExpiryDeadline",
    "HistorySummary",
    "HistoryTotals",
    "Purchases",
    "Shown",
    "account_approval_requests",
    "account_history",
    "approval_queue",
    "event_page",
    "export_rows",
    "history_summary",
    "history_with_pending",
    "ledger_discrepancies",
    "reference_discrepancies",
    "tally_discrepancies",
    "matching_events",
    "pending_approvals_count",
    "purchases",
    "recent_decisions",
    "rewards_taken",
    "upcoming_expirations",
    # rewards
    "account_rewards",
    "open_rewards",
    "reward_tiers",
]
