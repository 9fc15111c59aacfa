"""Reads of what agents granted: the rolling 24 hours that each agent's daily limit counts."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import Program
from ledger.models import LoyaltyEvent
from loyalty_admin.roles import AGENT

LIMIT_WINDOW = timedelta(hours=24)
# What counts as granting points: positive adjustments and the receiving halves of transfers
# and merges. Reversals, purchases and expiry do not; nor do grants a manager approved (a
# manager already looked at those).
GRANTS = Q(
    points__gt=0,
    type__in=[
        LoyaltyEvent.Type.ADJUST_POINTS,
        LoyaltyEvent.Type.TRANSFER_IN,
        LoyaltyEvent.Type.MERGE_IN,
    ],
    approval_request__isnull=True,
)


def _grants(program: Program, now: datetime | None) -> QuerySet[LoyaltyEvent]:
    since = (now or timezone.now()) - LIMIT_WINDOW
    return LoyaltyEvent.objects.filter(GRANTS, program=program, created_at__gt=since)


def granted_today(
    *, operator: AbstractBaseUser, program: Program, now: datetime | None = None
) -> int:
    """Points `operator` granted in the program in the 24 hours before `now`."""
    total = _grants(program, now).filter(actor=operator).aggregate(total=Sum("points"))["total"]
    return total or 0


@dataclass(frozen=True)
class AgentUse:
    operator: AbstractBaseUser
    granted: int
    limit: int | None

    @property
    def over(self) -> bool:
        return self.limit is not None and self.granted > self.limit


def agents_use(*, program: Program, now: datetime | None = None) -> list[AgentUse]:
    """Every active agent's grants in the last 24 hours against the program's limit, the
    busiest first."""
    granted = dict(
        _grants(program, now)
        .values_list("actor")
        .annotate(total=Sum("points"))
        .values_list("actor", "total")
    )
    agents = get_user_model().objects.filter(groups__name=AGENT, is_active=True).order_by("email")
    uses = [AgentUse(a, granted.get(a.pk, 0), program.agent_daily_limit) for a in agents]
    return sorted(uses, key=lambda use: -use.granted)
