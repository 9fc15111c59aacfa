"""Writes on the customer side: enrolment and the program's settings. Balances, reasons and
anything idempotent are the ledger's (`ledger.services`)."""

from datetime import UTC, datetime, timedelta

import isodate
from django.db import IntegrityError, transaction
from django.utils import timezone

from .exceptions import DuplicateAccount, InvalidProgramSetting
from .identities import Identity
from .models import LoyaltyAccount, Program
from .signals import program_updated


def enroll_account(
    *,
    program: Program,
    customer_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    pos_account_id: str | None = None,
    first_name: str = "",
    last_name: str = "",
    enrolled_at: datetime | None = None,
) -> LoyaltyAccount:
    """A new account with a zero balance. Refuses an identity the program already has."""
    identity = Identity.of(
        customer_id=customer_id, email=email, phone=phone, pos_account_id=pos_account_id
    )
    now = timezone.now()
    try:
        with transaction.atomic():
            return LoyaltyAccount.objects.create(
                program=program,
                customer_id=identity.customer_id,
                email=identity.email,
                phone=identity.phone,
                pos_account_id=identity.pos_account_id,
                first_name=first_name.strip(),
                last_name=last_name.strip(),
                enrolled_at=enrolled_at or now,
                created_at=now,
                updated_at=now,
            )
    except IntegrityError as exc:
        taken = LoyaltyAccount.objects.filter(program=program)
        for field in ("phone", "email", "customer_id", "pos_account_id"):
            value = getattr(identity, field)
            if value and taken.filter(**{field: value}).exists():
                raise DuplicateAccount(
                    f"The program already has an account with this {field.replace('_', ' ')}.",
                    field=field,
                ) from exc
        raise


@transaction.atomic
def update_program(*, program: Program, **settings: object) -> Program:
    """Change the program's name, terminology, approval threshold, each agent's daily
    limit or expiration policy.

    A new expiration policy dates the points earned from now on; lots already earned keep
    the expiry they were given (customers were told it).
    """
    allowed = {
        "name",
        "terminology_one",
        "terminology_other",
        "approval_threshold",
        "agent_daily_limit",
        "expiration_policy",
    }
    unknown = set(settings) - allowed
    if unknown:
        raise TypeError(f"Not a program setting: {', '.join(sorted(unknown))}")
    if "expiration_policy" in settings:
        settings["expiration_policy"] = expiration_policy(str(settings["expiration_policy"]))
    for name, value in settings.items():
        setattr(program, name, value)
    program.save(update_fields=[*settings, "updated_at"])
    program_updated.send(sender=Program, program=program)
    return program


def expiration_policy(policy: str) -> str:
    """The policy as stored (an ISO-8601 duration in capitals, or "" for never), or
    InvalidProgramSetting saying what to write instead."""
    policy = policy.strip().upper()
    if not policy:
        return ""
    try:
        duration = isodate.parse_duration(policy)
    except (isodate.ISO8601Error, ValueError) as exc:
        raise InvalidProgramSetting(
            "Write a duration like P12M (12 months), P1Y (a year) or P90D (90 days).",
            field="expiration_policy",
        ) from exc
    start = datetime(2000, 1, 1, tzinfo=UTC)
    if start + duration <= start + timedelta(hours=1):
        raise InvalidProgramSetting("Points must last at least an hour.", field="expiration_policy")
    return policy
