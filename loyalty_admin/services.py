"""Writes on the operator side: operators and their roles, API clients and their keys."""

import secrets

from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from . import api_keys, audit
from .models import ApiClient
from .roles import ROLES, set_role


def generate_password() -> str:
    return secrets.token_urlsafe(12)


@transaction.atomic
def save_operator(
    *, email: str, role: str, password: str | None = None, first_name: str = "", last_name: str = ""
) -> tuple[AbstractBaseUser, bool]:
    """Create the operator `email`, or update its role (and password, when one is given).

    Returns (user, created). Operators log in with their email address.
    """
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.")
    email = email.strip().lower()
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=email, defaults={"email": email, "first_name": first_name, "last_name": last_name}
    )
    if password is not None:
        validate_password(password, user)
        user.set_password(password)
        user.save(update_fields=["password"])
    elif created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    set_role(user, role)
    return user, created


# --- API clients ----------------------------------------------------------------------------

_RATE_UNITS = {"": 1, "m": 1, "min": 1, "minute": 1, "h": 60, "hour": 60}


def parse_rate(rate: str | int) -> int:
    """Requests per minute from "100", "100/min" or "6000/hour" (a whole number per minute)."""
    if isinstance(rate, int):
        count, per = rate, 1
    else:
        number, _, unit = rate.strip().lower().partition("/")
        per = _RATE_UNITS.get(unit.strip())
        if not number.strip().isdigit() or per is None:
            raise ValueError(f"Unknown rate {rate!r}; write it as N/min, for example 100/min.")
        count = int(number)
    if count < 1 or count % per:
        raise ValueError(f"The rate must be a whole number of requests per minute, not {rate!r}.")
    return count // per


def parse_scopes(scopes: str | list[str]) -> str:
    """A canonical "read,write" subset, refusing unknown scopes."""
    given = [s.strip() for s in (scopes.split(",") if isinstance(scopes, str) else scopes)]
    given = [s for s in given if s]
    unknown = sorted(set(given) - set(ApiClient.SCOPES))
    if unknown or not given:
        raise ValueError(
            f"Unknown scopes {', '.join(unknown) or '(none)'}; choose from read, write."
        )
    return ",".join(s for s in ApiClient.SCOPES if s in given)


@transaction.atomic
def create_api_client(
    *, name: str, scopes: str | list[str] = "read,write", rate: str | int = 100
) -> tuple[ApiClient, str]:
    """A new API client and its key. Only the key's hash is stored: show the key once."""
    name = name.strip()
    if not name or len(name) > ApiClient._meta.get_field("name").max_length:
        raise ValueError("Give the API client a name of 1 to 50 characters.")
    return ApiClient.objects.create_key(
        name=name, scopes=parse_scopes(scopes), rate_limit=parse_rate(rate)
    )


@transaction.atomic
def revoke_api_client(*, client: ApiClient) -> ApiClient:
    """Revoke the key for good. This process refuses it from the commit on, every other one
    within `api_keys.bound_seconds()` (their cache of keys in use)."""
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    if not client.revoked:
        client.revoked = True
        client.save(update_fields=["revoked"])
        # Now, for this transaction's own reads, and again once others can see it.
        api_keys.forget_clients()
        transaction.on_commit(api_keys.forget_clients)


# --- People (the console's People page) -------------------------------------------------------


class OperatorRefused(ValueError):
    """An operator change the console refuses; the message says why."""


def _role_of(user: AbstractBaseUser) -> str:
    names = {g.name for g in user.groups.all()}
    return "manager" if ROLES["manager"] in names else "agent"


@transaction.atomic
def invite_operator(
    *,
    email: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
    by: AbstractBaseUser,
    ip: str | None = None,
) -> tuple[AbstractBaseUser, str]:
    """A new operator with a generated password, returned once (only its hash is stored)."""
    email = email.strip().lower()
    if get_user_model().objects.filter(username=email).exists():
        raise OperatorRefused(f"{email} is already an operator.")
    password = generate_password()
    user, _ = save_operator(
        email=email, role=role, password=password, first_name=first_name, last_name=last_name
    )
    audit.record(
        action="operator.invited",
        actor=by,
        target=user,
        summary=f"Invited {email} as {role}",
        details={"email": email, "role": role},
        ip=ip,
    )
    return user, password


@transaction.atomic
def change_operator_role(
    *, operator: AbstractBaseUser, role: str, by: AbstractBaseUser, ip: str | None = None
) -> AbstractBaseUser:
    """Make `operator` an agent or a manager. Nobody changes their own role."""
    if operator.pk == by.pk:
        raise OperatorRefused("You cannot change your own role; ask another manager.")
    before = _role_of(operator)
    user, _ = save_operator(email=operator.username, role=role)
    audit.record(
        action="operator.role_changed",
        actor=by,
        target=user,
        summary=f"Changed {user.email} from {before} to {role}",
        details={"before": before, "after": role},
        ip=ip,
    )
    return user


def end_sessions(user: AbstractBaseUser) -> int:
    """Delete every open session of `user`; how many there were.

    Sessions live in the database keyed by a random id, with the user inside their signed
    data, so each unexpired one is read: fine for a team of operators, and it only runs when
    an operator is shut out."""
    ended = [
        session.pk
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if str(session.get_decoded().get(SESSION_KEY)) == str(user.pk)
    ]
    Session.objects.filter(pk__in=ended).delete()
    return len(ended)


@transaction.atomic
def set_operator_active(
    *, operator: AbstractBaseUser, active: bool, by: AbstractBaseUser, ip: str | None = None
) -> AbstractBaseUser:
    """Let an operator in again, or shut them out. Shutting out ends their open sessions at
    once, so that letting them in again later revives none: they log in afresh."""
    if operator.pk == by.pk:
        raise OperatorRefused("You cannot deactivate yourself; ask another manager.")
    operator.is_active = active
    operator.save(update_fields=["is_active"])
    if not active:
        end_sessions(operator)
    audit.record(
        action="operator.reactivated" if active else "operator.deactivated",
        actor=by,
        target=operator,
        summary=f"{'Reactivated' if active else 'Deactivated'} {operator.email}",
        ip=ip,
    )
    return operator


# --- API clients ------------------------------------------------------------------------------


@transaction.atomic
def issue_api_client(
    *,
    name: str,
    scopes: str,
    rate_limit: int | str,
    by: AbstractBaseUser | None,
    ip: str | None = None,
) -> tuple[ApiClient, str]:
    """`create_api_client`, recorded in the audit log in the same transaction. Without an
    operator (`by=None`) the actor recorded is the server's command line."""
    client, key = create_api_client(name=name, scopes=scopes, rate=rate_limit)
    audit.record(
        action="api_client.created",
        actor=by,
        via=audit.COMMAND_LINE if by is None else None,
        target=client,
        summary=f"Created API key “{client.name}” ({client.scopes}, {client.rate_limit}/min)",
        details={
            "prefix": client.prefix,
            "scopes": client.scopes,
            "rate_limit": client.rate_limit,
        },
        ip=ip,
    )
    return client, key


@transaction.atomic
def withdraw_api_client(
    *, client: ApiClient, by: AbstractBaseUser, ip: str | None = None
) -> ApiClient:
    """`revoke_api_client`, recorded in the audit log in the same transaction."""
    revoke_api_client(client=client)
    audit.record(
        action="api_client.revoked",
        actor=by,
        target=client,
        summary=f"Revoked API key “{client.name}”",
        details={"prefix": client.prefix},
        ip=ip,
    )
    return client
