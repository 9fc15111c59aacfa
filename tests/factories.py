"""Factories for the whole suite, in one place."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.models import LoyaltyAccount, Program
from loyalty_admin.models import ApiClient
from loyalty_admin.roles import AGENT, MANAGER

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"operator{n}@example.com")
    email = factory.SelfAttribute("username")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password(PASSWORD)


def operator(role: str, **kwargs) -> object:
    user = UserFactory(**kwargs)
    group, _ = Group.objects.get_or_create(name=AGENT if role == "agent" else MANAGER)
    user.groups.add(group)
    return user


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LoyaltyAccount

    program = factory.LazyFunction(lambda: Program.objects.resolve("main"))
    customer_id = factory.Sequence(lambda n: f"CUST{n:06d}")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    phone = factory.Sequence(lambda n: f"+1555{n:07d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    enrolled_at = factory.LazyFunction(timezone.now)
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.LazyFunction(timezone.now)


def api_client(name: str = "integration", scopes: str = "read,write", rate: int = 100):
    """An API client and its plain key (shown once, as `create_api_client` does)."""
    client, key = ApiClient.objects.create_key(name=name, scopes=scopes, rate_limit=rate)
    return client, key
