"""PostgreSQL's planner, told how not to join for a few statements of a transaction."""

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def join_methods_off(cursor, *methods: str) -> Iterator[None]:
    """Inside a transaction on PostgreSQL: the planner's join `methods` ("hashjoin",
    "mergejoin") off for the statements run in the block, then as they were. A statement that
    fails leaves them to the rollback, which undoes them with it."""
    settings = [f"enable_{method}" for method in methods]
    cursor.execute(
        "SELECT "
        + ", ".join(f"current_setting('{s}'), set_config('{s}', 'off', true)" for s in settings)
    )
    before = cursor.fetchone()[::2]
    yield
    cursor.execute(
        "SELECT " + ", ".join(f"set_config('{s}', %s, true)" for s in settings), list(before)
    )
