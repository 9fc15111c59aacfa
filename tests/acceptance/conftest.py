import pytest
from square import Square

from tests.factories import api_client


@pytest.fixture
def square_key(transactional_db):
    return api_client("square-pos", "read,write", rate=10_000)


@pytest.fixture
def square(live_server, square_key, program) -> Square:
    """The official Square SDK, unchanged, pointed at our server."""
    return Square(token=square_key[1], base_url=live_server.url)
