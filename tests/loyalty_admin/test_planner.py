"""The planner's join methods, off for a block of statements, then as they were."""

import pytest
from django.db import connection, transaction

from loyalty_admin.planner import join_methods_off

from ..conftest import postgres_only

pytestmark = [pytest.mark.django_db, postgres_only]


def _settings(cursor) -> tuple[str, str]:
    cursor.execute("SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin')")
    return cursor.fetchone()


def test_the_methods_are_off_in_the_block_and_as_they_were_after_it():
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_mergejoin = off")  # a setting of the caller's own
        with join_methods_off(cursor, "hashjoin", "mergejoin"):
            assert _settings(cursor) == ("off", "off")
        assert _settings(cursor) == ("on", "off")
        with join_methods_off(cursor, "hashjoin"):
            assert _settings(cursor) == ("off", "off")
        assert _settings(cursor) == ("on", "off")
