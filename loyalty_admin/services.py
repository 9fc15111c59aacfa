"""Writes on the operator side: operators and their roles."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

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
