from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from loyalty_admin.roles import ROLES
from loyalty_admin.services import generate_password, save_operator


class Command(BaseCommand):
    help = "Create an operator (or change an existing one's role) who logs in with EMAIL."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--role", choices=sorted(ROLES), required=True)
        parser.add_argument(
            "--password", help="Set this password; a new operator without one gets a random one."
        )

    def handle(self, *args, email, role, password, **options):
        from django.contrib.auth import get_user_model

        exists = get_user_model().objects.filter(username=email.strip().lower()).exists()
        shown = password if password is not None else (None if exists else generate_password())
        try:
            user, created = save_operator(email=email, role=role, password=shown)
        except (ValidationError, ValueError) as exc:
            raise CommandError("; ".join(getattr(exc, "messages", [str(exc)]))) from exc
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} {role} {user.username}")
        if shown and password is None:
            self.stdout.write(f"Password (shown once): {shown}")
