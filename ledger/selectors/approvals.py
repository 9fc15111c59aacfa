"""Reads of approval requests: the managers' queue and an account's requests."""

from accounts.models import LoyaltyAccount, Program
from ledger.models import ApprovalRequest
from loyalty_admin.pagination import KeysetPage, keyset_page


def pending_approvals_count(*, program: Program) -> int:
    """How many requests wait for a manager (one COUNT on the partial pending index)."""
    return ApprovalRequest.objects.filter(
        program=program, status=ApprovalRequest.Status.PENDING
    ).count()


def approval_queue(
    *, program: Program, cursor: str | None = None, limit: int = 25
) -> KeysetPage[ApprovalRequest]:
    """Pending requests, oldest first: the longest-waiting customer comes first."""
    pending = ApprovalRequest.objects.filter(
        program=program, status=ApprovalRequest.Status.PENDING
    ).select_related("account", "target", "reason", "requested_by")
    return keyset_page(pending, cursor=cursor, limit=limit, newest_first=False)


def recent_decisions(*, program: Program, limit: int = 10) -> list[ApprovalRequest]:
    return list(
        ApprovalRequest.objects.filter(program=program, decided_at__isnull=False)
        .select_related("account", "target", "reason", "requested_by", "decided_by", "event")
        .order_by("-decided_at")[:limit]
    )


def account_approval_requests(*, account: LoyaltyAccount, limit: int = 10) -> list[ApprovalRequest]:
    """The account's requests, pending ones first, then the latest decided."""
    requests = ApprovalRequest.objects.filter(account=account).select_related(
        "reason", "requested_by", "decided_by", "event"
    )
    pending = list(
        requests.filter(status=ApprovalRequest.Status.PENDING).order_by("created_at", "id")
    )
    decided = list(
        requests.exclude(status=ApprovalRequest.Status.PENDING).order_by("-created_at", "-id")[
            : max(limit - len(pending), 3)
        ]
    )
    return pending + decided
