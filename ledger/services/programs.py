"""Programs and enrolment where the ledger is involved: a new program's standard reasons, the
points a purchase earns, and enrolment under an idempotency key (Square's
CreateLoyaltyAccount)."""

from django.db import transaction

from accounts.models import LoyaltyAccount, Program
from accounts.services import enroll_account

from ..exceptions import WrongCurrency
from ..models import STANDARD_REASONS, Reason
from .actors import Actor
from .idempotency import idempotent
from .webhooks import notify_account_created


@transaction.atomic
def create_program(
    *,
    name: str,
    alias: str | None = None,
    is_default: bool = False,
    terminology_one: str = "Point",
    terminology_other: str = "Points",
    approval_threshold: int | None = None,
    expiration_policy: str = "",
) -> Program:
    """A new program with the five standard reasons."""
    program = Program.objects.create(
        name=name,
        alias=alias,
        is_default=is_default,
        terminology_one=terminology_one,
        terminology_other=terminology_other,
        approval_threshold=approval_threshold,
        expiration_policy=expiration_policy,
    )
    Reason.objects.bulk_create(
        Reason(
            program=program,
            code=code,
            label=label,
            sign=sign,
            affects_lifetime=lifetime,
            requires_note=requires_note,
            position=position,
        )
        for position, (code, label, sign, lifetime, requires_note) in enumerate(STANDARD_REASONS)
    )
    return program


def points_for_spend(*, program: Program, amount: int, currency: str) -> int:
    """The points `amount` (in the currency's smallest unit) earns under the program's spend
    rule: `accrual_points` for every whole `accrual_amount`."""
    if currency != program.currency:
        raise WrongCurrency(f"The program earns points in {program.currency}.")
    return (amount // program.accrual_amount) * program.accrual_points


@idempotent("enroll", own_scope=True)
def enroll_account_once(
    *,
    program: Program,
    actor: Actor,
    idempotency_key: str,
    customer_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> LoyaltyAccount:
    """`enroll_account` under an idempotency key: the same key with the same request returns
    the account its first use created; with a different request it raises
    IdempotencyConflict. A refused enrolment keeps no record."""
    account = enroll_account(program=program, customer_id=customer_id, email=email, phone=phone)
    notify_account_created(account)
    return account
