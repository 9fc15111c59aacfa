"""The demo's data: customers with a realistic history, built in memory and written in bulk
(COPY on PostgreSQL) by `manage.py seed_demo`, with balances, the balance_after chain and lots
computed as the ledger's services would have written them."""

import random
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
# The COPY column lists. Every row is written in COPY's binary format, which PostgreSQL reads in
# about two thirds of the time of its text (no text to parse into numbers, uuids and times),
# and Python writes faster too. The columns that vary come first, then those a row shares with
# every row of its kind, encoded once per seed (DemoPlan.variants, DemoPlan.program).
ACCOUNT_COLUMNS = [
    "id",
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
    "program_id",
]
EVENT_COLUMNS = [
    "id",
    "account_id",
    "points",
    "balance_after",
    "lifetime_after",
    "created_at",
    "order_id",
    # The same for every event of a kind (one of DemoPlan.variants):
    "program_id",
    "type",
    "reason_id",
    "reason_text",
    "affects_lifetime",
    "history_title",
    "note",
    "visible_to_customer",
    "source",
    "actor_id",
    "api_client_id",
    "location_id",
]
LOT_COLUMNS = ["id", "account_id", "event_id", "points", "remaining", "expires_at", "created_at"]
CONSUMPTION_COLUMNS = ["event_id", "lot_id", "points"]

# COPY's binary format (PostgreSQL's "COPY" page, "Binary Format"): a header, then each row as
# its number of fields and each field as its length (-1: NULL) and bytes; a trailer ends it.
BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
BINARY_TRAILER = b"\xff\xff"
BINARY_NULL = b"\xff\xff\xff\xff"
_INTEGER_SIZES = {"smallint": 2, "integer": 4, "bigint": 8}
# A timestamp with time zone is a count of microseconds since 2000-01-01 00:00 UTC.
BINARY_EPOCH = 946_684_800
# An account's field count and id; then balance, points earned, enrolled_at and created_at,
# each after its length.
_ACCOUNT_HEAD = struct.Struct(">hi16s")
_ACCOUNT_TAIL = struct.Struct(">iqiqiqiq")
# An event's varying columns up to created_at: the field count, then two uuids and four 8-byte
# integers (points, balance_after, lifetime_after, created_at), each after its length.
_EVENT_HEAD = struct.Struct(">hi16si16siqiqiqiq")
_LENGTH = struct.Struct(">i")
# A lot's columns up to remaining (its id, two uuids, points, remaining); a time; a consumption.
_LOT_HEAD = struct.Struct(">hiqi16si16siqiq")
_TIME = struct.Struct(">iq")
_CONSUMPTION = struct.Struct(">hi16siqiq")
DAY = 86_400
# A customer has at most this many events of their own (expiries aside), so at most this many
# lots, and at most 1 + 2 × this many ids (account, events, expiries).
MOST_EVENTS = 6
EVENT_COUNTS = (0, 1, 1, 2, 2, 3, 3, 4, 5, MOST_EVENTS)
IDS_PER_ACCOUNT = 16
# The kinds of events a customer's history is drawn from (DemoPlan.variants holds their fixed
# columns, one per operator for an operator's adjustment).
PURCHASE, BONUS, REDEMPTION, REFUND, REMOVAL, EXPIRY = range(6)
EARNING = (PURCHASE, BONUS, REMOVAL)  # the kinds that count towards points earned
BONUS_POINTS = (25, 50, 100, 150)
REFUND_POINTS = (20, 50, 100)


def pos_account_id(i: int) -> str | None:
    """Every tenth customer also shops in a store: the point-of-sale system's id for them."""
    return f"POS-{i:07d}" if i % 10 == 0 else None


def binary_field(value, *, size: int = 8) -> bytes:
    """One value as a field of COPY's binary format: its length, then its bytes. A number is a
    signed big-endian integer of `size` bytes (8: bigint, 4: integer), a uuid its 16 bytes."""
    if value is None:
        return BINARY_NULL
    if isinstance(value, bool):
        data = b"\x01" if value else b"\x00"
    elif isinstance(value, int):
        data = value.to_bytes(size, "big", signed=True)
    elif isinstance(value, uuid.UUID):
        data = value.bytes
    else:
        data = str(value).encode()
    return _LENGTH.pack(len(data)) + data


@dataclass(frozen=True)
class DemoPlan:
    """Everything a chunk of customers is built from, read from the database once: plain data,
    so that chunks can be built in other processes, each from its own random generator."""

    seed: int
    now: int  # Unix time, in whole seconds
    id_head: str  # the first 20 characters of every id this run makes
    program: bytes  # the program's id, as a field
    variants: tuple[tuple[bytes, ...], ...]  # [kind][operator]: the fixed columns, encoded
    operators: int
    first_day: int  # Unix day of the oldest moment a history can have
    expiries: tuple[int, ...] | None  # when points earned at 00:00 of each day expire
    first_account: int  # the first customer number this run makes
    lot_ids_after: int  # the largest lot id in the database


def demo_plan(program: Program, *, seed: int, first_account: int) -> DemoPlan:
    now = int(timezone.now().timestamp())
    reasons = {r.code: r for r in Reason.objects.filter(program=program)}
    User = get_user_model()
    operators = list(User.objects.filter(username__in=[e for e, _ in DEMO_OPERATORS]))
    if not operators:
        operators = [save_operator(email="agent@example.com", role="agent")[0]]
    pos = ApiClient.objects.filter(name="Demo point of sale").first()
    if pos is None:
        pos, _ = ApiClient.objects.create_key(name="Demo point of sale", scopes="write")
    Source = LoyaltyEvent.Source
    # The user model's id may be an integer or a bigint: the binary format needs its width.
    actor_size = _INTEGER_SIZES[LoyaltyEvent._meta.get_field("actor").db_type(connection)]

    def fixed(kind, reason, affects, title, source, actor, client, location) -> bytes:
        label = reason.label if reason else ""
        return b"".join(
            [
                binary_field(program.pk),
                binary_field(kind),
                binary_field(reason.pk if reason else None),
                binary_field(label),
                binary_field(affects),
                binary_field(title or label),
                binary_field(""),
                binary_field(True),
                binary_field(source),
                binary_field(actor.pk if actor else None, size=actor_size),
                binary_field(client.pk if client else None),
                binary_field(location),
            ]
        )

    def adjustment(code: str, affects: bool) -> tuple[bytes, ...]:
        return tuple(
            fixed("ADJUST_POINTS", reasons[code], affects, "", Source.ADMIN_UI, actor, None, "")
            for actor in operators
        )

    purchase = fixed(
        "ACCUMULATE_POINTS", None, True, "Purchase", Source.SQUARE_API, None, pos, "LOC-DOWNTOWN"
    )
    expiry = fixed(
        "EXPIRE_POINTS",
        None,
        False,
        f"{program.terminology_other} expired",
        Source.SYSTEM,
        None,
        None,
        "",
    )
    variants = (
        (purchase,) * len(operators),
        adjustment("REWARD", True),
        adjustment("REDEEM_DISCOUNT", False),
        adjustment("REFUND_DEDUCTED", False),
        adjustment("REMOVE_EARNED", True),
        (expiry,) * len(operators),
    )
    # A history starts at most 720 days ago.
    first_day = now // DAY - 721
    expiries = None
    if program.expiration_policy:
        # Points earned at a moment expire at the same time of day as points earned at the
        # start of that day (a calendar policy keeps the time of day; so does a fixed one).
        expiries = tuple(
            int(lot_expiry(program, datetime.fromtimestamp(d * DAY, UTC)).timestamp())
            for d in range(first_day, now // DAY + 1)
        )
    prefix = f"{random.SystemRandom().getrandbits(64):016x}"
    return DemoPlan(
        seed=seed,
        now=now,
        id_head=f"{prefix[:8]}-{prefix[8:12]}-4{prefix[13:16]}-8000-",
        program=binary_field(program.pk),
        variants=variants,
        operators=len(operators),
        first_day=first_day,
        expiries=expiries,
        first_account=first_account,
        lot_ids_after=PointLot.objects.aggregate(top=Max("id"))["top"] or 0,
    )


@dataclass
class DemoChunk:
    """Customers [start, stop) and their history, as the data of one binary COPY per table."""

    start: int
    stop: int
    accounts: bytes
    events: bytes
    lots: bytes
    consumptions: bytes
    event_count: int


def build_chunk(plan: DemoPlan, start: int, stop: int) -> DemoChunk:
    """Customers [start, stop) with their history. Customer i always has the same identity
    (customer id, email, phone); names and history are drawn from a generator seeded with the
    chunk's first customer, so chunks are independent of one another and can be built in any
    process. Balances, the balance_after chain and lots (FIFO: every event is positive, or
    negative with no overdraft) are what ledger.services would have written. Ids increase with
    the customer number (the account, then its events in order), so primary keys are appended
    to."""
    rng = random.Random(f"{plan.seed}:{start}")
    draw = rng.random
    head, program = plan.id_head, plan.program
    variants, operators = plan.variants, plan.operators
    # Moments are seconds since the start of plan.first_day here.
    base = plan.first_day * DAY
    now = plan.now - base
    expiries = None if plan.expiries is None else [e - base for e in plan.expiries]
    expired = variants[EXPIRY][0]
    # An id's bytes: the head's, plus 256 × its serial (the text's last 12 digits).
    id_base = uuid.UUID(f"{head}{0:012x}").int
    # An event's created_at in the binary format: microseconds from 2000-01-01 to base + moment.
    since_2000 = (base - BINARY_EPOCH) * 1_000_000
    event_head, length, no_order = _EVENT_HEAD.pack, _LENGTH.pack, BINARY_NULL
    lot_head, time_field, no_time = _LOT_HEAD.pack, _TIME.pack, BINARY_NULL
    consumption = _CONSUMPTION.pack
    account_head, account_tail = _ACCOUNT_HEAD.pack, _ACCOUNT_TAIL.pack
    accounts: list[bytes] = []
    events: list[bytes] = []
    lots: list[bytes] = []
    consumptions: list[bytes] = []
    # Lot ids: a block of MOST_EVENTS per customer (most customers leave some unused).
    lot_id = plan.lot_ids_after + (start - plan.first_account) * MOST_EVENTS
    for i in range(start, stop):
        first = FIRST_NAMES[int(draw() * len(FIRST_NAMES))]
        last = LAST_NAMES[int(draw() * len(LAST_NAMES))]
        email = f"{_EMAIL_FIRST[first]}.{_EMAIL_LAST[last]}{i}@{DOMAINS[i % len(DOMAINS)]}"
        phone = f"+1{201 + (i // 10_000_000) % 700}{(i * 7_919) % 10_000_000:07d}".encode()
        enrolled = now - int((20 + draw() * 700) * DAY)
        span = now - enrolled - 60
        moments = sorted(
            [enrolled + 60 + int(draw() * span) for _ in range(EVENT_COUNTS[int(draw() * 10)])]
        )
        moments.append(None)  # the end: what has expired by now expires
        serial = i * IDS_PER_ACCOUNT
        account_bytes = (id_base + (serial << 8)).to_bytes(16, "big")
        balance = lifetime = 0
        held: list[list] = []  # [lot id, event id, points, remaining, expires at, created at]
        last_at = enrolled
        for j, moment in enumerate(moments):
            if expiries is not None:
                until = now if moment is None else moment
                for lot in held:
                    remaining = lot[3]
                    if remaining and lot[4] <= until:
                        serial += 1
                        event_id = (id_base + (serial << 8)).to_bytes(16, "big")
                        balance -= remaining
                        last_at = lot[4]
                        events.append(
                            event_head(
                                *(19, 16, event_id),
                                *(16, account_bytes, 8, -remaining, 8, balance, 8, lifetime),
                                *(8, since_2000 + last_at * 1_000_000),
                            )
                            + no_order
                            + expired
                        )
                        consumptions.append(consumption(3, 16, event_id, 8, lot[0], 8, remaining))
                        lot[3] = 0
            if moment is None:
                break
            roll = draw()
            operator = 0
            order = no_order
            if roll < 0.62 or balance == 0:
                kind, points = PURCHASE, 5 + int(draw() * 295)
                number = f"ORD-{i}-{j}".encode()
                order = length(len(number)) + number
            else:
                operator = int(draw() * operators)
                if roll < 0.77:
                    kind, points = BONUS, BONUS_POINTS[int(draw() * len(BONUS_POINTS))]
                elif roll < 0.92 and balance >= 100:
                    kind, points = REDEMPTION, -100 * (1 + int(draw() * (balance // 100)))
                elif roll < 0.96:
                    kind, points = REFUND, REFUND_POINTS[int(draw() * len(REFUND_POINTS))]
                else:
                    kind, points = REMOVAL, -min(balance, lifetime, 5 + int(draw() * 55))
                    if points == 0:
                        kind, points = BONUS, 10
            balance += points
            if kind in EARNING:
                lifetime += points
            serial += 1
            event_id = (id_base + (serial << 8)).to_bytes(16, "big")
            events.append(
                event_head(
                    *(19, 16, event_id),
                    *(16, account_bytes, 8, points, 8, balance, 8, lifetime),
                    *(8, since_2000 + moment * 1_000_000),
                )
                + order
                + variants[kind][operator]
            )
            last_at = moment
            if points > 0:
                lot_id += 1
                expires = None
                if expiries is not None:
                    expires = expiries[moment // DAY] + moment % DAY
                held.append([lot_id, event_id, points, points, expires, moment])
                continue
            needed = -points
            for lot in held:
                take = min(lot[3], needed)
                if take:
                    lot[3] -= take
                    needed -= take
                    consumptions.append(consumption(3, 16, event_id, 8, lot[0], 8, take))
                    if not needed:
                        break
        for lot_id_, event_id, points, remaining, expires, created in held:
            lots.append(
                lot_head(7, 8, lot_id_, 16, account_bytes, 16, event_id, 8, points, 8, remaining)
                + (no_time if expires is None else time_field(8, since_2000 + expires * 1_000_000))
                + time_field(8, since_2000 + created * 1_000_000)
            )
        customer, email_bytes = b"CUST-%07d" % i, email.encode()
        when = since_2000 + enrolled * 1_000_000
        accounts.append(
            account_head(13, 16, account_bytes)
            + length(len(customer))
            + customer
            + length(len(email_bytes))
            + email_bytes
            + length(len(phone))
            + phone
            + binary_field(pos_account_id(i))
            + _NAME_FIELDS[first]
            + _NAME_FIELDS[last]
            + account_tail(8, balance, 8, lifetime, 8, when, 8, when)
            + time_field(8, since_2000 + last_at * 1_000_000)
            + program
        )
    return DemoChunk(
        start=start,
        stop=stop,
        accounts=_binary(accounts),
        events=_binary(events),
        lots=_binary(lots),
        consumptions=_binary(consumptions),
        event_count=len(events),
    )


def _binary(rows: list[bytes]) -> bytes:
    """Rows of COPY's binary format as the data of one COPY (nothing for no rows)."""
    return BINARY_HEADER + b"".join(rows) + BINARY_TRAILER if rows else b""


_EMAIL_FIRST = {name: name.lower() for name in FIRST_NAMES}
_EMAIL_LAST = {name: name.replace("ü", "ue").lower() for name in LAST_NAMES}
_NAME_FIELDS = {name: binary_field(name) for name in (*FIRST_NAMES, *LAST_NAMES)}


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
