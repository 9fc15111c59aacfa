"""Writes on the customer side: programs and enrolment. Balances are `ledger.services`' alone."""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from ledger.exceptions import DuplicateAccount, InvalidIdentity
from ledger.idempotency import claim_key, fingerprint
from ledger.models import STANDARD_REASONS, Reason

from .models import LoyaltyAccount, Program
from .phones import InvalidPhoneNumber, normalize_phone


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


def normalize_identity(
    *, customer_id: str | None, email: str | None, phone: str | None
) -> tuple[str | None, str | None, str | None]:
    """(customer_id, email, phone) as stored: stripped, lowercased email, E.164 phone, or None."""
    customer_id = (customer_id or "").strip() or None
    email = (email or "").strip().lower() or None
    phone = (phone or "").strip() or None
    if phone is not None:
        try:
            phone = normalize_phone(phone)
        except InvalidPhoneNumber as exc:
            raise InvalidIdentity(str(exc), field="phone_number") from exc
    if not (customer_id or email or phone):
        raise InvalidIdentity()
    return customer_id, email, phone


def enroll_account(
    *,
    program: Program,
    customer_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    first_name: str = "",
    last_name: str = "",
    enrolled_at: datetime | None = None,
) -> LoyaltyAccount:
    """A new account with a zero balance. Refuses an identity the program already has."""
    customer_id, email, phone = normalize_identity(
        customer_id=customer_id, email=email, phone=phone
    )
    now = timezone.now()
    try:
        with transaction.atomic():
            return LoyaltyAccount.objects.create(
                program=program,
                customer_id=customer_id,
                email=email,
                phone=phone,
                first_name=first_name.strip(),
                last_name=last_name.strip(),
                enrolled_at=enrolled_at or now,
                created_at=now,
                updated_at=now,
            )
    except IntegrityError as exc:
        taken = LoyaltyAccount.objects.filter(program=program)
        for field, value in (("phone", phone), ("email", email), ("customer_id", customer_id)):
            if value and taken.filter(**{field: value}).exists():
                raise DuplicateAccount(
                    f"The program already has an account with this {field.replace('_', ' ')}.",
                    field=field,
                ) from exc
        raise


@transaction.atomic
def update_program(*, program: Program, **settings: object) -> Program:
    """Change the program's name, terminology, approval threshold or expiration policy.

    A new expiration policy dates the points earned from now on; lots already earned keep
    the expiry they were given (customers were told it).
    """
    allowed = {
        "name",
        "terminology_one",
        "terminology_other",
        "approval_threshold",
        "expiration_policy",
    }
    unknown = set(settings) - allowed
    if unknown:
        raise TypeError(f"Not a program setting: {', '.join(sorted(unknown))}")
    for name, value in settings.items():
        setattr(program, name, value)
    program.save(update_fields=[*settings, "updated_at"])
    return program


@transaction.atomic
def enroll_account_once(
    *,
    idempotency_scope: str,
    idempotency_key: str,
    program: Program,
    customer_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> LoyaltyAccount:
    """`enroll_account` under an idempotency key (Square's CreateLoyaltyAccount).

    The same key with the same request returns the account its first use created; with a
    different request it raises IdempotencyConflict. A refused enrolment keeps no record.
    """
    record, new = claim_key(
        scope=idempotency_scope,
        key=idempotency_key,
        fingerprint=fingerprint(
            "enroll",
            program=str(program.pk),
            customer_id=customer_id,
            email=email,
            phone=phone,
        ),
    )
    if not new:
        return LoyaltyAccount.objects.select_related("program").get(
            pk=record.response["loyalty_account_id"]
        )
    account = enroll_account(program=program, customer_id=customer_id, email=email, phone=phone)
    record.response = {"loyalty_account_id": str(account.pk)}
    record.save(update_fields=["response"])
    return account
