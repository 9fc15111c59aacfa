"""The demo's data: customers with a realistic history, built in memory and written in bulk
(COPY on PostgreSQL) by `manage.py seed_demo`, with balances, the balance_after chain and lots
computed as the ledger's services would have written them."""

import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from accounts.models import Program
from ledger.models import (
    LoyaltyEvent,
    PointLot,
    Reason,
    WebhookNotification,
    WebhookSubscription,
)
from ledger.selectors.square import square_event
from ledger.services import lot_expiry, webhooks
from loyalty_admin.models import ApiClient
from loyalty_admin.services import save_operator

DEMO_OPERATORS = (("agent@example.com", "agent"), ("manager@example.com", "manager"))
FIRST_NAMES = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Mateo",
    "Sofia",
    "Lucas",
    "Mia",
    "Amir",
    "Chloe",
    "Ethan",
    "Zoe",
    "Yusuf",
    "Grace",
    "Hiro",
    "Isla",
    "Omar",
    "Priya",
    "Leo",
    "Nora",
    "Diego",
    "Hannah",
    "Kai",
    "Leila",
    "Marco",
    "Anya",
    "Felix",
    "Ruby",
    "Tariq",
    "Elena",
    "Sam",
    "Maya",
    "Jonas",
    "Aisha",
    "Theo",
    "Ines",
    "Ravi",
    "Clara",
    "Ben",
]
LAST_NAMES = [
    "Smith",
    "Garcia",
    "Chen",
    "Johnson",
    "Müller",
    "Okafor",
    "Rossi",
    "Kim",
    "Nguyen",
    "Brown",
    "Silva",
    "Patel",
    "Dubois",
    "Cohen",
    "Andersen",
    "Haddad",
    "Novak",
    "Tanaka",
    "Lopez",
    "Walker",
    "Murphy",
    "Kowalski",
    "Ibrahim",
    "Martin",
    "Costa",
    "Schmidt",
    "Yilmaz",
    "Sato",
    "Ortiz",
    "Evans",
    "Hughes",
    "Nakamura",
    "Fischer",
    "Moreau",
    "Jensen",
    "Ali",
    "Baker",
    "Santos",
    "Kaur",
    "Wright",
]
DOMAINS = ("example.com", "example.org", "mail.example.net", "shop.example.com")
ACCOUNT_COLUMNS = [
    "id",
    "program_id",
    "customer_id",
    "email",
    "phone",
    "pos_account_id",
    "first_name",
    "last_name",
    "balance",
    "lifetime_points",
    "enrolled_at",
    "created_at",
    "updated_at",
]
EVENT_COLUMNS = [
    "id",
    "program_id",
    "account_id",
    "type",
    "reason_id",
    "reason_text",
    "points",
    "affects_lifetime",
    "balance_after",
    "lifetime_after",
    "history_title",
    "note",
    "visible_to_customer",
    "source",
    "actor_id",
    "api_client_id",
    "order_id",
    "location_id",
    "reverses_id",
    "created_at",
]


LOT_COLUMNS = ["id", "account_id", "event_id", "points", "remaining", "expires_at", "created_at"]
CONSUMPTION_COLUMNS = ["event_id", "lot_id", "points"]


def insert_rows(model, columns: list[str], rows: list[tuple]) -> None:
    if not rows:
        return
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            copy_sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            with cursor.cursor.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
        return
    model.objects.bulk_create(
        (model(**dict(zip(columns, row, strict=True))) for row in rows), batch_size=2_000
    )


def pos_account_id(i: int) -> str | None:
    """Every tenth customer also shops in a store: the point-of-sale system's id for them."""
    return f"POS-{i:07d}" if i % 10 == 0 else None


@dataclass
class SeedRows:
    accounts: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    lots: list[tuple] = field(default_factory=list)
    consumptions: list[tuple] = field(default_factory=list)


class SeedLedger:
    """One customer's history as ledger.services would have written it, lots included
    (every event is positive or negative with no overdraft, so FIFO is list order)."""

    def __init__(self, history: "DemoHistory", rows: SeedRows, *, account_id: uuid.UUID) -> None:
        self.history, self.rows, self.account_id = history, rows, account_id
        self.balance = self.lifetime = 0
        self.lots: list[list] = []  # [id, account, event, points, remaining, expires, created]
        self.last_at = None

    def append(self, at, kind, points, affects, reason, actor, client, order, source) -> None:
        self.balance += points
        self.lifetime += points if affects else 0
        event_id = self.history.next_id()
        label = reason.label if reason else ""
        if kind == "EXPIRE_POINTS":
            title = f"{self.history.program.terminology_other} expired"
        else:
            title = label or "Purchase"
        self.rows.events.append(
            (
                event_id,
                self.history.program.pk,
                self.account_id,
                kind,
                reason.pk if reason else None,
                label,
                points,
                affects,
                self.balance,
                self.lifetime,
                title,
                "",
                True,
                source,
                actor.pk if actor else None,
                client.pk if client else None,
                order,
                "LOC-DOWNTOWN" if order else "",
                None,
                at,
            )
        )
        self.last_at = at
        if points > 0:
            expires = lot_expiry(self.history.program, at)
            self.lots.append(
                [self.history.next_lot_id(), self.account_id, event_id, points, points, expires, at]
            )
            return
        needed = -points
        for lot in self.lots:
            take = min(lot[4], needed)
            if take:
                lot[4] -= take
                needed -= take
                self.rows.consumptions.append((event_id, lot[0], take))
            if not needed:
                break

    def expire_until(self, moment) -> None:
        for lot in self.lots:
            if lot[4] and lot[5] is not None and lot[5] <= moment:
                self.append(
                    lot[5],
                    "EXPIRE_POINTS",
                    -lot[4],
                    False,
                    None,
                    None,
                    None,
                    None,
                    LoyaltyEvent.Source.SYSTEM,
                )


class DemoHistory:
    """Customer i always has the same identity (email, phone, customer id); names and history
    are drawn from a generator seeded per chunk."""

    def __init__(self, program: Program, *, seed: int) -> None:
        self.program = program
        self.seed = seed
        self.now = timezone.now().replace(microsecond=0)
        self.reasons = {r.code: r for r in Reason.objects.filter(program=program)}
        self.id_prefix = random.SystemRandom().getrandbits(64)
        self.counter = 0
        self.lot_counter = PointLot.objects.aggregate(top=Max("id"))["top"] or 0
        User = get_user_model()
        self.operators = list(User.objects.filter(username__in=[e for e, _ in DEMO_OPERATORS]))
        if not self.operators:
            self.operators = [save_operator(email="agent@example.com", role="agent")[0]]
        self.pos = ApiClient.objects.filter(name="Demo point of sale").first()
        if self.pos is None:
            self.pos, _ = ApiClient.objects.create_key(name="Demo point of sale", scopes="write")

    def next_lot_id(self) -> int:
        self.lot_counter += 1
        return self.lot_counter

    def next_id(self) -> uuid.UUID:
        """Random-looking but increasing ids: bulk inserts then append to the primary key and
        (account, created_at) indexes instead of splitting pages all over them."""
        self.counter += 1
        return uuid.UUID(int=(self.id_prefix << 64) | (self.counter << 8), version=4)

    def chunk(self, start: int, stop: int) -> SeedRows:
        self.rng = random.Random(f"{self.seed}:{start}")
        rows = SeedRows()
        for i in range(start, stop):
            self.customer(i, rows)
        return rows

    def customer(self, i: int, rows: SeedRows) -> None:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        ascii_last = last.replace("ü", "ue").lower()
        email = f"{first.lower()}.{ascii_last}{i}@{DOMAINS[i % len(DOMAINS)]}"
        phone = f"+1{201 + (i // 10_000_000) % 700}{(i * 7_919) % 10_000_000:07d}"
        enrolled = self.now - timedelta(days=rng.uniform(20, 720))
        moments = sorted(
            enrolled + timedelta(seconds=rng.uniform(60, (self.now - enrolled).total_seconds()))
            for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 3, 4, 5, 6)))
        )
        ledger = SeedLedger(self, rows, account_id=self.next_id())
        for j, moment in enumerate(moments):
            ledger.expire_until(moment)
            ledger.append(moment, *self.event(rng, i, j, ledger.balance, ledger.lifetime))
        ledger.expire_until(self.now)
        rows.accounts.append(
            (
                ledger.account_id,
                self.program.pk,
                f"CUST-{i:07d}",
                email,
                phone,
                pos_account_id(i),
                first,
                last,
                ledger.balance,
                ledger.lifetime,
                enrolled,
                enrolled,
                ledger.last_at or enrolled,
            )
        )
        rows.lots.extend(tuple(lot) for lot in ledger.lots)

    def event(self, rng: random.Random, i: int, j: int, balance: int, lifetime: int):
        roll = rng.random()
        actor = rng.choice(self.operators)
        ui = LoyaltyEvent.Source.ADMIN_UI
        if roll < 0.62 or balance == 0:
            points = rng.randrange(5, 300)
            return (
                "ACCUMULATE_POINTS",
                points,
                True,
                None,
                None,
                self.pos,
                f"ORD-{i}-{j}",
                LoyaltyEvent.Source.SQUARE_API,
            )
        if roll < 0.77:
            return (
                "ADJUST_POINTS",
                rng.choice((25, 50, 100, 150)),
                True,
                self.reasons["REWARD"],
                actor,
                None,
                None,
                ui,
            )
        if roll < 0.92 and balance >= 100:
            points = -100 * rng.randint(1, balance // 100)
            return (
                "ADJUST_POINTS",
                points,
                False,
                self.reasons["REDEEM_DISCOUNT"],
                actor,
                None,
                None,
                ui,
            )
        if roll < 0.96:
            return (
                "ADJUST_POINTS",
                rng.choice((20, 50, 100)),
                False,
                self.reasons["REFUND_DEDUCTED"],
                actor,
                None,
                None,
                ui,
            )
        points = -min(balance, lifetime, rng.randrange(5, 60))
        if points == 0:
            return ("ADJUST_POINTS", 10, True, self.reasons["REWARD"], actor, None, None, ui)
        return ("ADJUST_POINTS", points, True, self.reasons["REMOVE_EARNED"], actor, None, None, ui)


# --- Webhooks --------------------------------------------------------------------------------

DEMO_WEBHOOK_URL = "http://127.0.0.1:9/loyalty-webhooks"  # loopback's discard port


def ensure_demo_webhook() -> WebhookSubscription | None:
    """A disabled subscription to a loopback address, with a short delivery log from the newest
    events, so the webhooks page shows what it looks like; None if one is already there."""
    if WebhookSubscription.objects.filter(notification_url=DEMO_WEBHOOK_URL).exists():
        return None
    subscription = WebhookSubscription.objects.create(
        name="Demo receiver (disabled)",
        enabled=False,
        event_types=["loyalty.event.created", "loyalty.account.updated"],
        notification_url=DEMO_WEBHOOK_URL,
        api_version=webhooks.API_VERSION,
        signature_key=webhooks.new_signature_key(),
    )
    statuses = [
        (WebhookNotification.Status.DELIVERED, 200, ""),
        (WebhookNotification.Status.DELIVERED, 200, ""),
        (WebhookNotification.Status.FAILED, 503, ""),
    ]
    events = LoyaltyEvent.objects.select_related("account").order_by("-created_at")[:3]
    for event, (status, code, error) in zip(events, statuses, strict=False):
        event_id = uuid.uuid4()
        WebhookNotification.objects.create(
            subscription=subscription,
            event_id=event_id,
            event_type="loyalty.event.created",
            account_id=event.account_id,
            body=webhooks.notification_body(
                event_type="loyalty.event.created",
                event_id=event_id,
                created_at=event.created_at,
                kind="loyalty_event",
                obj=square_event(event),
            ),
            status=status,
            attempts=1 if status == WebhookNotification.Status.DELIVERED else 31,
            next_attempt_at=event.created_at,
            give_up_at=event.created_at + timedelta(hours=24),
            last_attempt_at=event.created_at,
            last_status_code=code,
            last_error=error,
            delivered_at=event.created_at if code == 200 else None,
            created_at=event.created_at,
        )
    return subscription
