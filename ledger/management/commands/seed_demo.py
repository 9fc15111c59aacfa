"""Fill the default program with realistic demo customers and history.

Idempotent: it tops the program up to --accounts customers and never duplicates one. Rows are
written in bulk (COPY on PostgreSQL), with balances and the balance_after chain computed here,
so that invariant 1 holds for the seeded data exactly as for live data.
"""

import os
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, transaction

from accounts.models import LoyaltyAccount, Program
from ledger.models import ApprovalRequest, LoyaltyEvent, Reason
from ledger.services import (
    Actor,
    adjust_points,
    create_program,
    merge_accounts,
    transfer_points,
)
from loyalty_admin.services import generate_password, save_operator

from ..demo_data import DEMO_OPERATORS, demo_plan, ensure_demo_webhook
from ..demo_load import (
    built_chunks,
    foreign_keys_not_valid,
    indexes_built_after_load,
    lock_if_empty,
    tables_empty,
    validate_foreign_keys,
    write_chunk,
)
from ..demo_operations import seed_operations
from ..demo_rewards import ensure_demo_rewards

DEMO_APPROVAL_THRESHOLD = 500
DEMO_AGENT_DAILY_LIMIT = 5_000
CHUNK = 10_000


def demo_program() -> Program:
    program = Program.objects.filter(is_default=True).first() or create_program(
        name="Loyalty program", alias="main", is_default=True
    )
    if not program.accounts.exists() and not program.expiration_policy:
        # The demo shows expiry at work: points earned expire after a year; and four eyes:
        # an agent's adjustment above 500 points waits for a manager.
        program.expiration_policy = "P12M"
        program.approval_threshold = program.approval_threshold or DEMO_APPROVAL_THRESHOLD
        # Each agent may grant 5,000 points a day before their grants wait for a manager.
        program.agent_daily_limit = program.agent_daily_limit or DEMO_AGENT_DAILY_LIMIT
        program.save(
            update_fields=[
                "expiration_policy",
                "approval_threshold",
                "agent_daily_limit",
                "updated_at",
            ]
        )
    return program


def ensure_held_adjustment(program: Program) -> ApprovalRequest | None:
    """One agent's adjustment waiting for the manager, made the way an agent makes it, so the
    approval queue is not empty on a first visit."""
    agent = get_user_model().objects.filter(username=DEMO_OPERATORS[0][0]).first()
    pending = ApprovalRequest.objects.filter(program=program, status=ApprovalRequest.Status.PENDING)
    if agent is None or program.approval_threshold is None or pending.exists():
        return None
    account = LoyaltyAccount.objects.filter(program=program).order_by("created_at", "id").first()
    if account is None:
        return None
    adjustment = adjust_points(
        account=account,
        points=program.approval_threshold + 100,
        reason=Reason.objects.get(program=program, code="REWARD"),
        note="Goodwill after a delayed order (demo)",
        actor=Actor.of_operator(agent),
    )
    return adjustment.approval


def ensure_account_operations(program: Program) -> list[str]:
    """A merged duplicate (by the manager) and a transfer (by the agent), made through the
    ledger's commands, once: the demo shows a closed account, its "merged into" link, and the
    paired events. Uses seeded customers, so the number of accounts stays as asked."""
    users = get_user_model().objects
    agent = users.filter(username=DEMO_OPERATORS[0][0]).first()
    manager = users.filter(username=DEMO_OPERATORS[1][0]).first()
    paired = LoyaltyEvent.objects.filter(program=program, counterpart__isnull=False)
    if agent is None or manager is None or paired.exists():
        return []
    # The first account holds the demo's waiting approval; the next four without rewards
    # (an account with an open reward cannot be merged away) take part here.
    accounts = list(
        LoyaltyAccount.objects.filter(program=program)
        .exclude(rewards__isnull=False)
        .order_by("created_at", "id")[1:5]
    )
    if len(accounts) < 4:
        return []
    duplicate, survivor, giver, receiver = accounts
    merge_accounts(
        source=duplicate,
        target=survivor,
        note="Enrolled twice, by phone and by email (demo)",
        actor=Actor.of_operator(manager),
    )
    done = [f"{duplicate.display_name} was merged into {survivor.display_name}."]
    points = min(50, giver.balance)
    if points > 0:
        transfer_points(
            source=giver,
            target=receiver,
            points=points,
            reason="Moved to their partner's account (demo)",
            actor=Actor.of_operator(agent),
        )
        done.append(f"{giver.display_name} gave {points} points to {receiver.display_name}.")
    return done


def ensure_demo_operators(credentials_file) -> list[tuple[str, str, str]]:
    """The demo agent and manager, with passwords kept in var/ so every run can print them."""
    saved: dict[str, str] = {}
    if credentials_file.exists():
        for line in credentials_file.read_text().splitlines():
            email, _, password = line.partition(" ")
            saved[email] = password
    User = get_user_model()
    shown = []
    for email, role in DEMO_OPERATORS:
        password = saved.get(email)
        user = User.objects.filter(username=email).first()
        if password is None or user is None or not user.check_password(password):
            password = password if user is None and password else generate_password()
            save_operator(
                email=email, role=role, password=password, first_name="Demo", last_name=role.title()
            )
        saved[email] = password
        shown.append((role, email, password))
    credentials_file.parent.mkdir(parents=True, exist_ok=True)
    credentials_file.write_text("".join(f"{e} {p}\n" for e, p in saved.items()))
    credentials_file.chmod(0o600)
    return shown


class Command(BaseCommand):
    help = "Seed the default program with demo customers, history and operators (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=2_000)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--no-operators", action="store_true", help="Do not create the demo operators."
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=2,
            help="Processes building the customers (at most one per CPU).",
        )

    def handle(self, *args, accounts: int, seed: int, no_operators: bool, workers: int, **options):
        self.verbosity = options["verbosity"]
        workers = max(1, min(workers, os.cpu_count() or 1))
        if connection.vendor == "postgresql" and (unchecked := foreign_keys_not_valid()):
            self.stdout.write(
                f"Checking the {len(unchecked)} foreign keys a stopped seed left unchecked…"
            )
            self._validate(unchecked, side_by_side=workers > 1)
        program = demo_program()
        if not no_operators:
            self.stdout.write("Demo operators (log in at http://127.0.0.1:8000/):")
            for role, email, password in ensure_demo_operators(
                settings.VAR_DIR / "demo-operators.txt"
            ):
                self.stdout.write(f"  {role:<8} {email:<22} password: {password}")

        existing = LoyaltyAccount.objects.filter(program=program).count()
        if existing >= accounts:
            self.stdout.write(f"Demo data present: {existing:,} accounts in “{program.name}”.")
            self._hold_one(program)
            self._show_rewards(program)
            self._operations(program)
            return
        started = time.monotonic()
        plan = demo_plan(program, seed=seed, first_account=existing)
        ranges = [(i, min(i + CHUNK, accounts)) for i in range(existing, accounts, CHUNK)]
        made_events = self._load(plan, ranges, workers=workers)
        self.stdout.write(
            f"Seeded {accounts - existing:,} accounts and {made_events:,} events "
            f"in {time.monotonic() - started:.1f}s."
        )
        self._hold_one(program)
        self._show_rewards(program)
        self._operations(program)

    def _load(self, plan, ranges: list[tuple[int, int]], *, workers: int) -> int:
        """Write the chunks; the number of events written. Into empty tables on PostgreSQL, in
        one transaction with the indexes and foreign keys made after the load; otherwise a
        transaction per chunk, in order, so that what a failed run leaves is a prefix of the
        customers, which the next run tops up."""
        made = 0
        started = time.monotonic()
        chunks = built_chunks(plan, ranges, workers)
        if connection.vendor == "postgresql" and tables_empty():
            foreign_keys = None
            with transaction.atomic():
                if lock_if_empty():
                    with indexes_built_after_load(log=self._detail) as foreign_keys:
                        self._detail("tables empty: indexes and foreign keys after the load")
                        for chunk in chunks:
                            write_chunk(chunk)
                            made += chunk.event_count
                            self._progress(chunk)
                        loaded = time.monotonic()
                        self._detail(f"loaded in {loaded - started:.1f}s")
                    self._lots_sequence()
                    made_in = time.monotonic() - loaded
                    self._step(f"indexes and foreign keys made in {made_in:.1f}s")
            if foreign_keys is not None:
                self._validate(foreign_keys, side_by_side=workers > 1)
                return made
        for chunk in chunks:
            with transaction.atomic():
                write_chunk(chunk)
            made += chunk.event_count
            self._progress(chunk)
        self._lots_sequence()
        return made

    def _validate(self, foreign_keys: list[tuple[str, str]], *, side_by_side: bool) -> None:
        started = time.monotonic()
        try:
            validate_foreign_keys(foreign_keys, side_by_side=side_by_side, log=self._detail)
        except DatabaseError as error:
            raise CommandError(
                "The customers are loaded, but checking them against a foreign key failed: "
                f"{error}. The keys left unchecked stay NOT VALID (still enforced on new rows); "
                "the next seed_demo checks them again."
            ) from error
        self._step(f"foreign keys checked in {time.monotonic() - started:.1f}s")

    def _step(self, line: str) -> None:
        if self.verbosity > 1:
            self.stdout.write(f"  {line}")

    def _detail(self, line: str) -> None:
        if self.verbosity > 2:
            self.stdout.write(f"  {line}")

    def _progress(self, chunk) -> None:
        self._step(f"{chunk.stop:,} accounts…")

    def _lots_sequence(self) -> None:
        if connection.vendor == "postgresql":
            # Lots were given explicit ids; move the identity sequence past them.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence('ledger_pointlot', 'id'), "
                    "COALESCE((SELECT MAX(id) FROM ledger_pointlot), 1))"
                )

    def _show_rewards(self, program: Program) -> None:
        rewards = ensure_demo_rewards(program)
        if rewards:
            self.stdout.write(
                f"Reward tiers added; {rewards[0].account.display_name} has a redeemed and an "
                "open reward."
            )

    def _operations(self, program: Program) -> None:
        for line in ensure_account_operations(program):
            self.stdout.write(line)

    def _hold_one(self, program: Program) -> None:
        for line in seed_operations(program):
            self.stdout.write(line)
        if ensure_demo_webhook() is not None:
            self.stdout.write("A disabled demo webhook subscription shows the webhooks page.")
        held = ensure_held_adjustment(program)
        if held is not None:
            self.stdout.write(
                f"An agent's {held.points:+,} for {held.account.display_name} waits for approval."
            )
