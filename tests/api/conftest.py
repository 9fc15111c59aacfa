import pytest
from rest_framework.test import APIClient

# Live-server tests (a storefront over real HTTP) close each request thread's connection.
from tests.acceptance.conftest import short_lived_connections  # noqa: F401
from tests.factories import api_client


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def writer_key(db):
    """A read-write API client and its key."""
    return api_client("writer", "read,write", rate=1000)


@pytest.fixture
def reader_key(db):
    return api_client("reader", "read", rate=1000)


@pytest.fixture
def api(writer_key) -> APIClient:
    return bearer(writer_key[1])


@pytest.fixture
def read_only_api(reader_key) -> APIClient:
    return bearer(reader_key[1])
