import pytest
from django.test import Client

from ledger.models import LoyaltyEvent
from ledger.services import adjust_points

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def agent_client(agent) -> Client:
    client = Client()
    client.force_login(agent)
    return client


@pytest.fixture
def manager_client(manager) -> Client:
    client = Client()
    client.force_login(manager)
    return client


@pytest.fixture
def funded(account, reasons, manager):
    """The customer with 1,000 points, all earned."""
    adjust_points(
        account=account,
        points=1000,
        reason=reasons["REWARD"],
        source=LoyaltyEvent.Source.ADMIN_UI,
        actor=manager,
    )
    account.refresh_from_db()
    return account


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Operators are built with a real password; the default hasher costs ~0.3 s each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
