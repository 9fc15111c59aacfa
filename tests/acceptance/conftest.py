import pytest
from django.db import connections
from square import Square

from tests.factories import api_client


@pytest.fixture
def square_key(transactional_db, short_lived_connections):
    return api_client("square-pos", "read,write", rate=10_000)


@pytest.fixture
def short_lived_connections():
    """The live server answers each request on a new thread; close each thread's database
    connection when its request ends, so none outlives the test (PostgreSQL would then refuse
    to drop the test database)."""
    database = connections.settings["default"]
    saved = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    yield
    database["CONN_MAX_AGE"] = saved


@pytest.fixture
def square(live_server, short_lived_connections, square_key, program) -> Square:
    """The official Square SDK, unchanged, pointed at our server."""
    return Square(token=square_key[1], base_url=live_server.url)
