"""Operator roles.

Operators are Django users; a role is membership of one of two groups. Managers can do
everything agents can, plus approvals, reversals, overrides and administration.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group

AGENT = "Agent"
MANAGER = "Manager"
ROLES = {"agent": AGENT, "manager": MANAGER}


def is_manager(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    # The groups are prefetched per request by the console; this stays one query at most.
    return user.is_superuser or any(g.name == MANAGER for g in user.groups.all())


def is_operator(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or any(g.name in (AGENT, MANAGER) for g in user.groups.all())


def set_role(user: AbstractBaseUser, role: str) -> None:
    """Make `user` an operator of exactly one role ("agent" or "manager")."""
    group_name = ROLES[role]
    user.groups.remove(*Group.objects.filter(name__in=ROLES.values()))
    user.groups.add(Group.objects.get(name=group_name))
