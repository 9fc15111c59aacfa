from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ledger import lookups, services
from ledger.exceptions import LedgerError, ProgramNotFound
from ledger.models import LoyaltyEvent
from ledger.services import Actor
from ledger.services.bulk_file import decode


class Command(BaseCommand):
    help = (
        "Check (--dry-run) or apply a bulk adjustment CSV: columns email|phone|customer_id, "
        "points, reason, history_title, note, visible_to_customer. All rows apply, or none."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="Check only; write nothing.")
        parser.add_argument("--operator", help="Email of the manager the events are made by.")
        parser.add_argument("--program", default="main", help="Program id or alias.")
        parser.add_argument(
            "--allow-duplicate", action="store_true", help="Apply a file that was applied before."
        )

    def handle(self, *args, file: Path, dry_run: bool, operator, program, allow_duplicate, **kw):
        try:
            data = file.read_bytes()
            program = lookups.program(program)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc
        except ProgramNotFound as exc:
            raise CommandError(f"No program “{program}”.") from exc
        if dry_run:
            # A dry run writes nothing, so it judges the rows as the system would apply them.
            check = services.check_bulk_file(
                program=program, content=_decode(data), actor=_dry_run_actor()
            )
            self._report(check.rows, check.customers, check.points_added, check.points_removed)
            for error in check.errors:
                self.stdout.write(f"  line {error.line}, {error.field}: {error.message}")
            if check.errors:
                raise CommandError(f"{len(check.errors):,} error(s); nothing would be applied.")
            self.stdout.write("No errors: the file can be applied.")
            return
        if not operator:
            raise CommandError("Say who applies the file: --operator EMAIL (a manager).")
        user = get_user_model().objects.filter(username=operator.strip().lower()).first()
        if user is None:
            raise CommandError(f"No operator “{operator}”.")
        actor = Actor.of_operator(user, source=LoyaltyEvent.Source.BULK_IMPORT)
        try:
            batch, check = services.upload_bulk_file(
                program=program, actor=actor, filename=file.name, data=data
            )
        except LedgerError as exc:
            raise CommandError(exc.message) from exc
        self._report(check.rows, check.customers, check.points_added, check.points_removed)
        try:
            batch = services.apply_batch(
                batch=batch,
                allow_duplicate=allow_duplicate,
                progress=lambda done: self.stdout.write(f"  {done:,} rows…"),
            )
        except LedgerError as exc:
            for error in getattr(exc, "errors", [])[:50]:
                self.stdout.write(f"  line {error['line']}, {error['field']}: {error['message']}")
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Applied {batch.rows_applied:,} rows as batch {batch.pk}.")

    def _report(self, rows: int, customers: int, added: int, removed: int) -> None:
        self.stdout.write(
            f"{rows:,} rows, {customers:,} customers, +{added:,} / -{removed:,} points."
        )


def _dry_run_actor() -> Actor:
    return Actor(source=LoyaltyEvent.Source.BULK_IMPORT)


def _decode(data: bytes) -> str:
    try:
        return decode(data)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
