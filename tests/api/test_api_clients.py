"""API clients: created by a command that shows the key once; hashed; revocable."""

import pytest
from django.core.management import CommandError, call_command

from loyalty_admin.models import ApiClient
from loyalty_admin.services import create_api_client, parse_rate, revoke_api_client


def test_the_command_prints_the_key_once_and_stores_only_its_hash(db, capsys):
    call_command("create_api_client", "Shopify sync", scopes="read", rate="250/min")

    out = capsys.readouterr().out
    key = out.split("Key (shown once): ")[1].strip()
    client = ApiClient.objects.get(name="Shopify sync")
    assert (client.scopes, client.rate_limit) == ("read", 250)
    assert key not in (client.id, client.hashed_key, client.prefix)
    assert client.hashed_key.startswith("sha512$$")
    assert ApiClient.objects.get_from_key(key) == client


def test_the_command_defaults_to_read_write_at_100_a_minute(db, capsys):
    call_command("create_api_client", "POS")
    client = ApiClient.objects.get(name="POS")
    assert (client.scopes, client.rate_limit) == ("read,write", 100)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"scopes": "admin"}, "Unknown scopes admin"), ({"rate": "fast"}, "Unknown rate")],
)
def test_the_command_refuses_bad_options(db, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_client", "x", **options)


@pytest.mark.parametrize(
    ("rate", "per_minute"), [("100/min", 100), ("100", 100), ("6000/hour", 100), (7, 7)]
)
def test_rates(rate, per_minute):
    assert parse_rate(rate) == per_minute


def test_revoking_is_for_good(db):
    client, key = create_api_client(name="old", scopes="read,write")
    revoke_api_client(client=client)
    client.refresh_from_db()
    assert client.revoked
    with pytest.raises(ApiClient.DoesNotExist):
        ApiClient.objects.get_from_key(key)
