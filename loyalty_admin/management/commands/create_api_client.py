from django.core.management.base import BaseCommand, CommandError

from loyalty_admin.services import issue_api_client


class Command(BaseCommand):
    help = (
        "Create an API client and print its key (shown once; only a hash is stored). "
        'The audit log records it with the actor "command line".'
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--scopes", default="read,write", help="read, write or read,write")
        parser.add_argument("--rate", default="100/min", help="requests per minute, e.g. 100/min")

    def handle(self, *args, name, scopes, rate, **options):
        try:
            client, key = issue_api_client(name=name, scopes=scopes, rate_limit=rate, by=None)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Created API client {client.name} (scopes {client.scopes}, "
            f"{client.rate_limit} requests/min, prefix {client.prefix})"
        )
        self.stdout.write(f"Key (shown once): {key}")
