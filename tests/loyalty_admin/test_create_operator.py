import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from loyalty_admin.roles import is_manager, is_operator


def test_it_creates_an_agent_with_a_random_password_shown_once(db, capsys):
    call_command("create_operator", "New.Agent@Example.com", role="agent")

    out = capsys.readouterr().out
    user = get_user_model().objects.get(username="new.agent@example.com")
    password = out.split("Password (shown once): ")[1].strip()
    assert user.check_password(password)
    assert is_operator(user) and not is_manager(user)


def test_it_changes_an_existing_operators_role_and_password(db, capsys):
    call_command("create_operator", "ops@example.com", role="agent", password="a-long-passphrase-1")
    call_command("create_operator", "ops@example.com", role="manager")

    user = get_user_model().objects.get(username="ops@example.com")
    assert is_manager(user)
    assert user.check_password("a-long-passphrase-1")
    assert user.groups.count() == 1


def test_it_refuses_a_weak_password(db):
    with pytest.raises(CommandError, match="too short"):
        call_command("create_operator", "ops@example.com", role="agent", password="abc")
    assert not get_user_model().objects.filter(username="ops@example.com").exists()
