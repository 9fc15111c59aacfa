"""Each agent's daily limit: how many points one agent may grant in a rolling 24 hours.

A manager sets it per program (`Program.agent_daily_limit`). A grant that would take an agent
past it is held for a manager's approval, like an adjustment above the approval threshold; the
preview says so in words first. Only agents have a limit: managers, API clients and the system
never wait for it (and an API key's adjustment reads nothing more for it).
"""

from django.contrib.auth import get_user_model

from accounts.models import Program

from ..selectors.grants import granted_today
from .actors import Actor


def daily_limit(actor: Actor, program: Program) -> int | None:
    if actor.operator is None or program.agent_daily_limit is None or actor.is_manager:
        return None
    return program.agent_daily_limit


def over_daily_limit(*, actor: Actor, program: Program, granting: object) -> str:
    """Why granting `granting` points waits for a manager, in words; "" when it does not."""
    if not isinstance(granting, int) or granting <= 0:
        return ""
    limit = daily_limit(actor, program)
    if limit is None:
        return ""
    after = granted_today(operator=actor.operator, program=program) + granting
    if after <= limit:
        return ""
    unit = program.terminology_other.lower()
    return f"This takes you to {after:,} of your {limit:,} {unit} today; it will go to a manager."


def lock_agent(actor: Actor, program: Program, granting: object) -> None:
    """Serialise one agent's grants in a program: held (on the operator's row) until the
    transaction ends, so that concurrent grants each see the ones before them and none slips
    past the limit. Taken after the account locks, always, so it cannot close a cycle."""
    if isinstance(granting, int) and granting > 0 and daily_limit(actor, program) is not None:
        list(get_user_model().objects.select_for_update().filter(pk=actor.operator.pk).values("pk"))
