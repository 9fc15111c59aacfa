"""A customer's identities as the ledger stores them, whoever typed them.

Every face and the bulk file name a customer by email, phone or customer id (the Yotpo dialect
also by point-of-sale id); they all pass
through here, so `Emma@Example.com ` and `emma@example.com` are one customer everywhere, and
a phone in any national or international format is one E.164 number.
"""

from dataclasses import dataclass

from .exceptions import InvalidIdentity
from .phones import InvalidPhoneNumber, normalize_phone

# The account fields that identify a customer, in the order a look-up tries them.
IDENTITY_FIELDS = ("customer_id", "email", "phone", "pos_account_id")


def normalize_email(value: str | None) -> str | None:
    return (value or "").strip().lower() or None


def normalize_customer_id(value: str | None) -> str | None:
    return (value or "").strip() or None


def normalize_phone_identity(value: str | None, *, field: str = "phone") -> str | None:
    """E.164, or None for a blank value; InvalidIdentity (about `field`) for a bad number."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return normalize_phone(value)
    except InvalidPhoneNumber as exc:
        raise InvalidIdentity(str(exc), field=field) from exc


@dataclass(frozen=True)
class Identity:
    """One or more of a customer's identities, normalised."""

    customer_id: str | None = None
    email: str | None = None
    phone: str | None = None
    pos_account_id: str | None = None

    @classmethod
    def of(
        cls,
        *,
        customer_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        pos_account_id: str | None = None,
        phone_field: str = "phone",
    ) -> "Identity":
        """Normalise what was given; InvalidIdentity when nothing usable was."""
        identity = cls(
            customer_id=normalize_customer_id(customer_id),
            email=normalize_email(email),
            phone=normalize_phone_identity(phone, field=phone_field),
            # An id in another system, kept as that system wrote it (like customer_id).
            pos_account_id=normalize_customer_id(pos_account_id),
        )
        if not any(getattr(identity, name) for name in IDENTITY_FIELDS):
            raise InvalidIdentity()
        return identity

    def lookup(self) -> dict[str, str]:
        """The account filter for the first identity given (customer id, email, phone, then
        point-of-sale id)."""
        for name in IDENTITY_FIELDS:
            value = getattr(self, name)
            if value:
                return {name: value}
        raise InvalidIdentity()
