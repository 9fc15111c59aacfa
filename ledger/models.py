"""The ledger: an append-only list of events per loyalty account.

Design
------
* Every change to a balance is one `LoyaltyEvent` row carrying the signed `points`, whether it
  counts towards points earned (`affects_lifetime`), and the account's `balance_after` /
  `lifetime_after`. The account's balance is a cache of the sum of its events' points; it is
  written only by `ledger.services`, in the same transaction as the event, under a lock on the
  account row.
* Events are never updated or deleted; the database itself refuses it (triggers on SQLite and
  PostgreSQL, see migrations). A mistake is corrected by a REVERSAL event pointing at the event
  it reverses; `reverses` is unique, so an event is reversed at most once.
* Within an account, event times strictly increase, so (created_at, id) orders the history
  and the newest event's `balance_after` is the account's balance.
* Points expire by lots (`PointLot`): every positive event puts its points (the part above
  zero) in a lot with an expiry date from the program's policy, and every negative event takes
  points from the soonest-expiring lots first (`LotConsumption`). Lots are derived data, kept
  in the same transaction as the event and rebuildable from the events; for every account
  the lots' remaining points add up to max(balance, 0).
* A `Reward` takes a `RewardTier`'s points from the balance when it is issued (CREATE_REWARD)
  and gives them back to the lots they came from, with their original expiry, if it is
  deleted (DELETE_REWARD); redeeming it (REDEEM_REWARD) moves no points and is final.
* `IdempotencyRecord` makes a retried request (same scope and key) return the first result,
  and refuses a different request under a key already used.
"""

import uuid

import pgtrigger
from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.db.models import Q

from accounts.models import LoyaltyAccount, Program
from loyalty_admin.models import ApiClient

# The references that PostgreSQL checks once per statement, as (column, table), rather than
# with foreign keys, which check each row of a statement apart: a bulk file of 100,000 rows
# made 100,000 checks of its accounts, 400,000 of the same four rows (its program, reasons,
# operator and batch) and 150,000 of its lots' accounts and events and its consumptions'
# events, about 3.4 s at its commit, where each statement's one query takes a fraction of
# that. The check locks each named row as a foreign key's does (FOR KEY SHARE), and the
# tables that events name refuse to delete, renumber or empty those rows
# (`named_by_events`). Events themselves are never deleted (`append_only`): an event that is
# named needs no lock. SQLite keeps every foreign key.
#
# An event's references. `counterpart` keeps its foreign key: each half of a pair names the
# other, written after it, which only a check deferred to the commit allows.
EVENT_REFERENCES = (
    ("program_id", "accounts_program"),
    ("reason_id", "ledger_reason"),
    ("actor_id", "auth_user"),
    ("batch_id", "ledger_bulkbatch"),
    ("api_client_id", "loyalty_admin_apiclient"),
    ("reward_id", "ledger_reward"),
    ("reverses_id", "ledger_loyaltyevent"),
    ("account_id", "accounts_loyaltyaccount"),
)
# A consumption's event, never deleted, so never locked. Its lot keeps its foreign key: a check
# by statement would write a lock on each lot a file spends from, which in a bulk file's
# apply costs more than the foreign key's check. A lot's event and account are checked
# together (`lot_event_mismatch_sql`).
CONSUMPTION_REFERENCES = (("event_id", "ledger_loyaltyevent"),)
# The references whose values can be many in one statement (a bulk file names thousands of
# accounts; each reversal, reward and lot names its own event or reward): read on their own,
# not among the few combinations of the others.
_MANY_A_STATEMENT = {"account_id", "event_id", "reverses_id", "reward_id"}


def missing_reference_sql(
    rows: str, references=EVENT_REFERENCES, *, first_only: bool = True, lock: bool = True
) -> str:
    """PostgreSQL's query for the `references` of `rows` (a table) to rows that do not
    exist, as (field, value): the first one, or all. It reads `rows` once for the few
    combinations of the references that take few values, once for each of the others. With
    `lock`, it locks each named row that exists until the transaction ends, so that none is
    deleted before the rows commit."""
    few = ", ".join(column for column, _ in references if column not in _MANY_A_STATEMENT)

    def missing(column: str, table: str) -> str:
        source = rows if column in _MANY_A_STATEMENT else "named"
        locking = " FOR KEY SHARE" if lock and table != "ledger_loyaltyevent" else ""
        return (
            f"(SELECT '{column}' AS field, one.id::text AS value "
            f"FROM (SELECT DISTINCT {column} AS id FROM {source} WHERE {column} IS NOT NULL) one "
            f"WHERE NOT EXISTS (SELECT FROM {table} t WHERE t.id = one.id{locking}))"
        )

    return (
        (f"WITH named AS MATERIALIZED (SELECT DISTINCT {few} FROM {rows}) " if few else "")
        + " UNION ALL ".join(missing(column, table) for column, table in references)
        + (" LIMIT 1" if first_only else "")
    )


def lot_event_mismatch_sql(lots: str, *, first_only: bool = True) -> str:
    """PostgreSQL's query for the rows of `lots` whose event does not exist or is of another
    account, as (field, value): the first one, or all. A lot's account is always its event's,
    so the events' check of their accounts, and the accounts' refusal to lose a row that
    events name, keep the lot's account too; no lock is taken (events are never deleted)."""
    return (
        "SELECT 'event_id' AS field, one.event_id::text || ' of account ' || "
        "one.account_id::text AS value "
        f"FROM (SELECT DISTINCT event_id, account_id FROM {lots}) one "
        "WHERE NOT EXISTS (SELECT FROM ledger_loyaltyevent t "
        "WHERE t.id = one.event_id AND t.account_id = one.account_id)"
        + (" LIMIT 1" if first_only else "")
    )


def references_checked(missing: str, noun: str) -> pgtrigger.Trigger:
    """The statement trigger that refuses the statement's rows if `missing`, a query of the
    inserted rows (`written`), finds one that names a row that does not exist (see
    EVENT_REFERENCES); `noun` names such a row in the refusal."""
    return pgtrigger.Trigger(
        name="references",
        operation=pgtrigger.Insert,
        level=pgtrigger.Statement,
        when=pgtrigger.After,
        referencing=pgtrigger.Referencing(new="written"),
        declare=[("missing", "record")],
        func=f"""
                FOR missing IN {missing} LOOP
                    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', MESSAGE = format(
                        '{noun} names %s %s, which does not exist',
                        missing.field, missing.value
                    );
                END LOOP;
                RETURN NULL;""",
    )


def named_by_events(column: str) -> list[pgtrigger.Trigger]:
    """The triggers of a table that events name in `column` (EVENT_REFERENCES): it refuses to
    delete a row that an event names or to change its id, and to be emptied while any event
    names one of its rows."""
    refuse = "RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', MESSAGE = format"
    return [
        pgtrigger.Trigger(
            name="named_by_events",
            operation=pgtrigger.Delete | pgtrigger.UpdateOf("id"),
            when=pgtrigger.Before,
            func=f"""
            IF (TG_OP = 'DELETE' OR NEW.id IS DISTINCT FROM OLD.id) AND EXISTS (
                SELECT FROM ledger_loyaltyevent WHERE {column} = OLD.id
            ) THEN
                {refuse}('%s refused: loyalty events name %s %s', TG_OP, TG_TABLE_NAME, OLD.id);
            END IF;
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            RETURN NEW;""",
        ),
        pgtrigger.Trigger(
            name="named_by_events_truncate",
            operation=pgtrigger.Truncate,
            level=pgtrigger.Statement,
            when=pgtrigger.Before,
            func=f"""
            IF EXISTS (SELECT FROM ledger_loyaltyevent WHERE {column} IS NOT NULL) THEN
                {refuse}('%s refused: loyalty events name rows of %s', TG_OP, TG_TABLE_NAME);
            END IF;
            RETURN NULL;""",
        ),
    ]


class Reason(models.Model):
    """Why an operator adjusts points. The sign decides the direction of the adjustment."""

    class Sign(models.IntegerChoices):
        ADD = 1, "+"
        REMOVE = -1, "−"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="reasons")
    code = models.CharField(max_length=40)
    label = models.CharField(max_length=120)
    sign = models.SmallIntegerField(choices=Sign.choices)
    affects_lifetime = models.BooleanField(
        help_text="Whether this adjustment also changes the points earned (lifetime)."
    )
    requires_note = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "label"]
        constraints = [
            models.UniqueConstraint(fields=["program", "code"], name="uniq_reason_code"),
            models.CheckConstraint(condition=Q(sign__in=[1, -1]), name="reason_sign"),
            models.CheckConstraint(condition=~Q(code=""), name="reason_code_nonempty"),
        ]
        triggers = named_by_events("reason_id")

    def __str__(self) -> str:
        return self.label

    @staticmethod
    def normalize_code(code: str) -> str:
        """Codes are stored in capitals; whoever types one is understood in any case."""
        return code.strip().upper()


# The five reasons every program starts with (DESIGN.md).
STANDARD_REASONS = [
    # code, label, sign, affects_lifetime, requires_note
    ("REWARD", "Reward customer", 1, True, False),
    ("REFUND_DEDUCTED", "Refund points deducted by redemption/expiration", 1, False, False),
    ("REDEEM_DISCOUNT", "Redeem points for a discount", -1, False, False),
    ("REMOVE_EARNED", "Remove earned points", -1, True, False),
    ("EXPIRE_NOW", "Expire points", -1, False, False),
]


PAIRED_TYPES = ["TRANSFER_OUT", "TRANSFER_IN", "MERGE_OUT", "MERGE_IN"]


# Foreign keys of an event that most events leave empty; each is indexed where it is set.
EVENT_PARTIAL_INDEXES = ("actor", "api_client", "batch", "reward")

# A tally row's key (with its `writer`) and counts; an upsert adds the counts to the row's.
TALLY_KEY = "program_id, period, reason_key, type, source"
TALLY_COUNTS = ("count", "added_count", "added", "removed_count", "removed")
TALLY_ADD = ", ".join(f"{c} = ledger_eventtally.{c} + EXCLUDED.{c}" for c in TALLY_COUNTS)


def tally_period_sql(column: str, vendor: str) -> str:
    """SQL for the start of the UTC quarter hour of the time in `column` (for statements sent
    without parameters: the SQLite form has % signs)."""
    if vendor == "postgresql":
        return f"date_bin('15 minutes', {column}, TIMESTAMPTZ '2000-01-01 00:00Z')"
    # The text form Django stores on SQLite, 'YYYY-MM-DD HH:MM:SS'.
    return (
        f"strftime('%Y-%m-%d %H:', {column}) || "
        f"printf('%02d', CAST(strftime('%M', {column}) AS INTEGER) / 15 * 15) || ':00'"
    )


def tally_events_sql(events: str, writer: str) -> str:
    """PostgreSQL's statement that adds the rows of `events` (a table of events) to their
    tallies (EventTally) under `writer`: one row per quarter hour, program, reason, type and
    source. In order of their keys, so that two statements lock shared rows in one order."""
    return f"""
    INSERT INTO ledger_eventtally ({TALLY_KEY}, writer,
                                   {", ".join(TALLY_COUNTS)})
    SELECT program_id, {tally_period_sql("created_at", "postgresql")},
           COALESCE(reason_id, 0), type, source, {writer},
           count(*),
           count(*) FILTER (WHERE points > 0), COALESCE(sum(points) FILTER (WHERE points > 0), 0),
           count(*) FILTER (WHERE points < 0), COALESCE(sum(points) FILTER (WHERE points < 0), 0)
    FROM {events}
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT ({TALLY_KEY}, writer) DO UPDATE SET
    {TALLY_ADD};
"""


class LoyaltyEvent(models.Model):
    class Type(models.TextChoices):
        ADJUST_POINTS = "ADJUST_POINTS"
        ACCUMULATE_POINTS = "ACCUMULATE_POINTS"
        EXPIRE_POINTS = "EXPIRE_POINTS"
        REVERSAL = "REVERSAL"
        # Account operations: each writes a pair of events, one per account, naming each other.
        TRANSFER_OUT = "TRANSFER_OUT", "Transfer out"
        TRANSFER_IN = "TRANSFER_IN", "Transfer in"
        MERGE_OUT = "MERGE_OUT", "Merged away"
        MERGE_IN = "MERGE_IN", "Merged in"
        # A reward's life (see Reward): points locked, the reward used, or the points returned.
        CREATE_REWARD = "CREATE_REWARD"
        REDEEM_REWARD = "REDEEM_REWARD"
        DELETE_REWARD = "DELETE_REWARD"

    class Source(models.TextChoices):
        ADMIN_UI = "ADMIN_UI", "Console"
        # Stored as Square's own word for events its API makes; events are append-only, so
        # the value stays as first written.
        SQUARE_API = "LOYALTY_API", "Square API"
        NATIVE_API = "NATIVE_API", "Native API"
        YOTPO_API = "YOTPO_API", "Yotpo API"
        BULK_IMPORT = "BULK_IMPORT", "Bulk import"
        SYSTEM = "SYSTEM", "System"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Both are covered by composite indexes below (or, for program, never queried alone);
    # fewer indexes keep the one-insert hot path and bulk loads cheap.
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+", db_index=False)
    account = models.ForeignKey(
        LoyaltyAccount, on_delete=models.PROTECT, related_name="events", db_index=False
    )
    type = models.CharField(max_length=20, choices=Type.choices)
    reason = models.ForeignKey(
        Reason, on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    # Square documents its free-text reason up to 3,500 characters; kept whole.
    reason_text = models.CharField(max_length=3500, blank=True)
    points = models.BigIntegerField()
    affects_lifetime = models.BooleanField()
    balance_after = models.BigIntegerField()
    lifetime_after = models.BigIntegerField()
    history_title = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)
    visible_to_customer = models.BooleanField(default=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    # actor, api_client, batch and reward are each empty on most events: they are indexed
    # where set (Meta.indexes), which is where every look-up by them reads.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="loyalty_events",
        db_index=False,
    )
    api_client = models.ForeignKey(
        "loyalty_admin.ApiClient",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="loyalty_events",
        db_index=False,
    )
    order_id = models.CharField(max_length=191, null=True, blank=True)
    location_id = models.CharField(max_length=191, blank=True)
    # Unique where set: on PostgreSQL a partial unique index keeps this field's and
    # `counterpart`'s rule without an entry for every event that has none (migration 0015).
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by"
    )
    batch = models.ForeignKey(
        "BulkBatch",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="events",
        db_index=False,
    )
    # The X-Request-ID of the request that wrote the event, to find its log lines.
    # Nullable, so adding it leaves the append-only table (and its SQLite triggers) as it is.
    request_id = models.CharField(max_length=64, null=True, blank=True)
    # The other half of a transfer or merge (each half names the other; both are written in
    # one transaction, so the deferred foreign key is satisfied at commit).
    counterpart = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Points earned that a merge moves (besides `points`, which it moves as the balance).
    earned_moved = models.BigIntegerField(default=0, db_default=0)
    reward = models.ForeignKey(
        "Reward",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="events",
        db_index=False,
    )
    created_at = models.DateTimeField()

    REWARD_TYPES = (Type.CREATE_REWARD, Type.REDEEM_REWARD, Type.DELETE_REWARD)

    class Meta:
        constraints = [
            # Every event moves points, but for two: redeeming a reward moves none (they were
            # taken when it was created), and a merge of an account with nothing on it still
            # records the merge.
            models.CheckConstraint(
                condition=(Q(type="REDEEM_REWARD") & Q(points=0))
                | Q(type__in=["MERGE_OUT", "MERGE_IN"])
                | (~Q(type__in=["REDEEM_REWARD", "MERGE_OUT", "MERGE_IN"]) & ~Q(points=0)),
                name="event_points_nonzero",
            ),
            models.CheckConstraint(
                condition=Q(type__in=PAIRED_TYPES, counterpart__isnull=False)
                | (~Q(type__in=PAIRED_TYPES) & Q(counterpart__isnull=True)),
                name="event_pair_links_counterpart",
            ),
            models.CheckConstraint(
                condition=Q(earned_moved=0) | Q(type__in=["MERGE_OUT", "MERGE_IN"]),
                name="event_only_merges_move_earned",
            ),
            models.CheckConstraint(
                condition=(
                    Q(type__in=["CREATE_REWARD", "REDEEM_REWARD", "DELETE_REWARD"])
                    & Q(reward__isnull=False)
                )
                | (
                    ~Q(type__in=["CREATE_REWARD", "REDEEM_REWARD", "DELETE_REWARD"])
                    & Q(reward__isnull=True)
                ),
                name="event_reward_links_reward",
            ),
            models.CheckConstraint(
                condition=(Q(type="REVERSAL") & Q(reverses__isnull=False))
                | (~Q(type="REVERSAL") & Q(reverses__isnull=True)),
                name="event_reversal_links_original",
            ),
            models.CheckConstraint(
                condition=Q(actor__isnull=False)
                | Q(api_client__isnull=False)
                | Q(source__in=["SYSTEM", "BULK_IMPORT"]),
                name="event_has_author",
            ),
            # Square refuses to accumulate points for one order twice; so do we.
            models.UniqueConstraint(
                fields=["account", "order_id"],
                condition=Q(type="ACCUMULATE_POINTS"),
                name="uniq_accumulate_order",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "created_at", "id"], name="event_account_created"),
            models.Index(fields=["created_at", "id"], name="event_created"),
            *(
                models.Index(
                    fields=[name],
                    condition=Q(**{f"{name}__isnull": False}),
                    name=f"event_{name}_set",
                )
                for name in EVENT_PARTIAL_INDEXES
            ),
        ]
        triggers = [
            # Append-only at the database (PostgreSQL); SQLite's twin is in migration 0002.
            pgtrigger.Trigger(
                name="append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
                when=pgtrigger.Before,
                func="RAISE EXCEPTION 'loyalty events are append-only: % refused', TG_OP;",
            ),
            pgtrigger.Trigger(
                name="append_only_truncate",
                operation=pgtrigger.Truncate,
                level=pgtrigger.Statement,
                when=pgtrigger.Before,
                func="RAISE EXCEPTION 'loyalty events are append-only: % refused', TG_OP;",
            ),
            # The statement's references to accounts, programs, reasons, operators, API
            # clients, batches, rewards and reversed events, all checked in one query
            # (EVENT_REFERENCES); SQLite checks its foreign keys.
            references_checked(missing_reference_sql("written"), "loyalty event"),
            # The statement's events added to their tallies (EventTally); SQLite's twin, a
            # row trigger, is in migration 0018.
            pgtrigger.Trigger(
                name="tally",
                operation=pgtrigger.Insert,
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                referencing=pgtrigger.Referencing(new="written"),
                func=f"{tally_events_sql('written', 'pg_backend_pid()')} RETURN NULL;",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.points:+d} on {self.account_id} ({self.type})"

    @property
    def is_reversal(self) -> bool:
        return self.type == self.Type.REVERSAL

    @property
    def is_paired(self) -> bool:
        return self.type in PAIRED_TYPES

    @property
    def earned_change(self) -> int:
        """How much this event moved the account's points earned."""
        return (self.points if self.affects_lifetime else 0) + self.earned_moved


class EventTally(models.Model):
    """How many events, and how many points added and removed, per quarter hour (UTC),
    program, reason, type and source: derived data that the database keeps as events are
    written, in the statement that writes them (a trigger on each engine), so that the
    history explorer's totals and chart read a few rows per day instead of every event.

    On PostgreSQL each backend adds to rows of its own (`writer`: its process id), so that
    concurrent writers never wait on one another's tally rows; `compact_event_tallies` later
    merges them into one row per key (`writer` 0), the sums unchanged. SQLite has one writer
    at a time and keeps one row per key. Every real time zone's day is a whole number of
    quarter hours (offsets are multiples of 15 minutes), so the rows sum to any zone's days.
    """

    # Indexed by the unique key, which it leads. No foreign key in the database: the program
    # comes from the events, whose own key holds it (and programs are never deleted), and a
    # key here would add a check to every statement that writes events.
    program = models.ForeignKey(
        Program, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    period = models.DateTimeField(help_text="The start of the quarter hour, in UTC.")
    # The reason's id, 0 for none: a key column, so never NULL (a unique index would let
    # NULLs repeat, and the upsert would add a row each time).
    reason_key = models.BigIntegerField()
    type = models.CharField(max_length=20)
    source = models.CharField(max_length=20)
    writer = models.IntegerField(default=0)
    count = models.BigIntegerField()
    added_count = models.BigIntegerField()
    added = models.BigIntegerField()
    removed_count = models.BigIntegerField()
    removed = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["program", "period", "reason_key", "type", "source", "writer"],
                name="tally_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.count} {self.type} events from {self.period:%Y-%m-%d %H:%M}"


class IdempotencyRecord(models.Model):
    """One use of an idempotency key within a scope (an API client, an operator, a form)."""

    scope = models.CharField(max_length=100)
    key = models.CharField(max_length=191)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request.")
    # What the key's request made, read only from the record (a replay). No query looks a
    # record up by its event, and events are never deleted (append-only), so the column has
    # no index: an index on it would cost every adjustment one more entry at a random place
    # (the events' ids are random) for no reader.
    event = models.ForeignKey(
        LoyaltyEvent,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="uniq_idempotency_key"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"


class PointLot(models.Model):
    """Points from one positive event that have not been spent or expired yet."""

    # Always the event's account. Every read by account is of the open lots, which the partial
    # index lot_open_by_expiry serves; an index over every lot ever made (most of them spent)
    # would cost each new lot one more entry, at a random place, for no reader. A repair that
    # reads all of an account's lots finds them through its events.
    account = models.ForeignKey(
        LoyaltyAccount, on_delete=models.PROTECT, related_name="lots", db_index=False
    )
    # Usually one lot per event; the receiving half of a transfer or merge carries several,
    # each with the expiry date of the lot it came from.
    event = models.ForeignKey(LoyaltyEvent, on_delete=models.PROTECT, related_name="lots")
    points = models.BigIntegerField()
    remaining = models.BigIntegerField()
    # Kept by the database. The open-lot indexes are partial on it rather than on `remaining`,
    # so that spending part of a lot changes no indexed column: with room on the page
    # (fillfactor, migration 0014) PostgreSQL then writes the new row version beside the old
    # one and touches none of the lot's four indexes (a HOT update).
    is_open = models.GeneratedField(
        expression=Q(remaining__gt=0), output_field=models.BooleanField(), db_persist=True
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=models.F("points")),
                name="lot_remaining_within_points",
            ),
        ]
        indexes = [
            models.Index(
                fields=["account", "expires_at", "created_at"],
                condition=Q(is_open=True),
                name="lot_open_by_expiry",
            ),
            models.Index(
                fields=["expires_at"], condition=Q(is_open=True), name="lot_open_expiring"
            ),
        ]
        # The statement's lots' events, and that each is of the lot's account, checked in
        # one query; SQLite checks its foreign keys.
        triggers = [references_checked(lot_event_mismatch_sql("written"), "point lot")]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.points} until {self.expires_at}"


class LotConsumption(models.Model):
    """How many of a lot's points a negative event took (so a reversal can give them back)."""

    event = models.ForeignKey(LoyaltyEvent, on_delete=models.PROTECT, related_name="consumptions")
    lot = models.ForeignKey(PointLot, on_delete=models.PROTECT, related_name="consumptions")
    points = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="consumption_positive"),
        ]
        # The statement's consumptions' events checked in one query
        # (CONSUMPTION_REFERENCES); SQLite checks its foreign keys.
        triggers = [
            references_checked(
                missing_reference_sql("written", CONSUMPTION_REFERENCES), "lot consumption"
            )
        ]

    def __str__(self) -> str:
        return f"{self.points} from lot {self.lot_id}"


class BulkBatch(models.Model):
    """One uploaded CSV of adjustments: validated first, then applied all at once or not at all."""

    class Status(models.TextChoices):
        VALIDATED = "VALIDATED", "Checked, not applied"
        INVALID = "INVALID", "Has errors"
        QUEUED = "QUEUED", "Waiting for the worker"
        APPLYING = "APPLYING", "Applying"
        APPLIED = "APPLIED", "Applied"
        FAILED = "FAILED", "Failed, nothing applied"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bulk_batches"
    )
    filename = models.CharField(max_length=255)
    content = models.TextField(help_text="The uploaded CSV, kept so the worker applies exactly it.")
    sha256 = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    rows = models.PositiveIntegerField(default=0)
    customers = models.PositiveIntegerField(default=0)
    points_added = models.BigIntegerField(default=0)
    points_removed = models.BigIntegerField(default=0)
    rows_applied = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    failure = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    # The job worker's tries: a batch whose worker stopped is requeued, then failed.
    attempts = models.PositiveSmallIntegerField(default=0)
    applying_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        triggers = named_by_events("batch_id")

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_status_display()})"


class ApprovalRequest(models.Model):
    """An agent's adjustment above the program's approval threshold, waiting for a manager.

    No event exists until a manager approves it; the event is then made with the requester as
    its actor (who asked for it), and `decided_by` keeps who let it through (four eyes).
    """

    class Kind(models.TextChoices):
        ADJUST = "ADJUST", "Adjustment"
        TRANSFER = "TRANSFER", "Transfer"
        MERGE = "MERGE", "Merge"

    class Status(models.TextChoices):
        PENDING = "PENDING", "Waiting for a manager"
        APPROVED = "APPROVED", "Approved"
        REJECTED = "REJECTED", "Rejected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+", db_index=False)
    account = models.ForeignKey(
        LoyaltyAccount, on_delete=models.PROTECT, related_name="approval_requests", db_index=False
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ADJUST)
    # A transfer's or merge's receiving account (`account` gives the points).
    target = models.ForeignKey(
        LoyaltyAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="incoming_approval_requests",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approval_requests"
    )
    # An adjustment's reason; a transfer or merge says why in free text.
    reason = models.ForeignKey(
        Reason, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason_text = models.CharField(max_length=3500, blank=True)
    points = models.BigIntegerField()
    history_title = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)
    visible_to_customer = models.BooleanField(default=True)
    # The face the adjustment was asked on; the approved event carries it.
    source = models.CharField(
        max_length=20, choices=LoyaltyEvent.Source.choices, default="ADMIN_UI"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="approval_decisions",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    event = models.OneToOneField(
        LoyaltyEvent,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="approval_request",
    )
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="approval_points_nonzero"),
            models.CheckConstraint(
                condition=(Q(status="PENDING") & Q(decided_by__isnull=True) & Q(event__isnull=True))
                | (Q(status="APPROVED") & Q(decided_by__isnull=False) & Q(event__isnull=False))
                | (Q(status="REJECTED") & Q(decided_by__isnull=False) & Q(event__isnull=True)),
                name="approval_decision_consistent",
            ),
            models.CheckConstraint(
                condition=~Q(decided_by=models.F("requested_by")),
                name="approval_four_eyes",
            ),
            models.CheckConstraint(
                condition=(Q(kind="ADJUST") & Q(reason__isnull=False) & Q(target__isnull=True))
                | (Q(kind__in=["TRANSFER", "MERGE"]) & Q(target__isnull=False)),
                name="approval_kind_consistent",
            ),
        ]
        indexes = [
            # The queue and the navigation's pending count read only pending requests.
            models.Index(
                fields=["program", "created_at", "id"],
                condition=Q(status="PENDING"),
                name="approval_pending",
            ),
            models.Index(fields=["account", "created_at", "id"], name="approval_account"),
        ]

    def __str__(self) -> str:
        return f"{self.points:+d} on {self.account_id} ({self.status})"

    @property
    def reason_label(self) -> str:
        return self.reason.label if self.reason is not None else self.reason_text

    @property
    def what(self) -> str:
        """The operation in words, for the queue and the audit log."""
        if self.kind == self.Kind.TRANSFER:
            return f"Transfer {self.points:,} to {self.target.display_name}"
        if self.kind == self.Kind.MERGE:
            return f"Merge into {self.target.display_name}"
        return "Adjustment"


# --- Rewards ---------------------------------------------------------------------------------


class RewardTier(models.Model):
    """What a program offers for a number of points (Square's reward tier).

    A tier's points are fixed once it exists (rewards made from it carry their own copy);
    its name may change; retiring it stops new rewards and keeps the ones already issued.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="reward_tiers")
    name = models.CharField(max_length=200)
    points = models.BigIntegerField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["points", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="reward_tier_points_positive"),
            models.CheckConstraint(condition=~Q(name=""), name="reward_tier_name_nonempty"),
            models.CheckConstraint(
                condition=Q(active=True, retired_at__isnull=True)
                | Q(active=False, retired_at__isnull=False),
                name="reward_tier_retired_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.points:,})"


class Reward(models.Model):
    """Points a customer has turned into a reward: taken from the balance when it is issued
    (a CREATE_REWARD event), then either used (REDEEMED, final; a REDEEM_REWARD event of no
    points) or given back (DELETED; a DELETE_REWARD event returning the points to the lots
    they came from). The status is the latest of the reward's events, kept here like the
    account's balance, by `ledger.services` only."""

    class Status(models.TextChoices):
        ISSUED = "ISSUED", "Issued"
        REDEEMED = "REDEEMED", "Redeemed"
        DELETED = "DELETED", "Deleted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+", db_index=False)
    account = models.ForeignKey(
        LoyaltyAccount, on_delete=models.PROTECT, related_name="rewards", db_index=False
    )
    tier = models.ForeignKey(RewardTier, on_delete=models.PROTECT, related_name="rewards")
    points = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ISSUED)
    order_id = models.CharField(max_length=191, null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    redeemed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="reward_points_positive"),
            models.CheckConstraint(
                condition=(Q(status="REDEEMED") & Q(redeemed_at__isnull=False))
                | (~Q(status="REDEEMED") & Q(redeemed_at__isnull=True)),
                name="reward_redeemed_at_consistent",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "status", "updated_at", "id"], name="reward_account"),
        ]
        triggers = named_by_events("reward_id")

    def __str__(self) -> str:
        return f"{self.points:,} on {self.account_id} ({self.status})"


# --- Webhooks --------------------------------------------------------------------------------


def new_subscription_id() -> str:
    # Square's subscription ids read "wbhk_" and hex.
    return f"wbhk_{uuid.uuid4().hex}"


class WebhookSubscription(models.Model):
    """Where to tell an integration that something happened, in Square's webhook format.

    The signature key signs every notification (HMAC-SHA256), so it is kept as it is; it is
    shown once, on creation and on rotation, and never again.
    """

    id = models.CharField(primary_key=True, max_length=40, default=new_subscription_id)
    name = models.CharField(max_length=64, blank=True)
    enabled = models.BooleanField(default=True)
    event_types = models.JSONField(default=list)
    notification_url = models.URLField(max_length=2000)
    api_version = models.CharField(max_length=20, blank=True)
    signature_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name or self.notification_url


class WebhookNotification(models.Model):
    """One notification for one subscription: the outbox row, written in the transaction of
    the change it tells about, then its delivery's state and log.

    `body` is the exact JSON sent on every attempt, so `event_id` and the signature of a
    retried notification are those of the first try.
    """

    class Status(models.TextChoices):
        PENDING = "PENDING", "Waiting"
        DELIVERED = "DELIVERED", "Delivered"
        FAILED = "FAILED", "Failed"

    id = models.BigAutoField(primary_key=True)
    # No database constraint: a writer may still hold a cached list of subscriptions that
    # names one being deleted, and its ledger event must not fail for that; such a row is
    # never delivered (the worker finds no subscription) and is deleted with the others.
    subscription = models.ForeignKey(
        WebhookSubscription,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="notifications",
    )
    event_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    event_type = models.CharField(max_length=60)
    # Notifications about one account are delivered in order (none of an account overtakes
    # an older one); None for notifications about no account (program, tests).
    account_id = models.UUIDField(null=True, blank=True)
    body = models.TextField()
    is_test = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    give_up_at = models.DateTimeField()
    # A worker holds a notification while it posts it; a worker killed mid-delivery leaves
    # the hold to run out, and the notification is posted again (same event_id).
    held_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="PENDING") | Q(held_until__isnull=True),
                name="webhook_only_pending_held",
            ),
        ]
        indexes = [
            models.Index(
                fields=["subscription", "id"],
                condition=Q(status="PENDING"),
                name="webhook_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} ({self.status})"


# Programs, accounts, operators and API clients as the events name them: proxies that only
# carry the triggers of their tables (models of other apps), so that these migrations install
# them. No permissions of their own: nobody works with them.
class ProgramNamedByEvents(Program):
    class Meta:
        proxy = True
        default_permissions = ()
        triggers = named_by_events("program_id")


class OperatorNamedByEvents(User):
    class Meta:
        proxy = True
        default_permissions = ()
        triggers = named_by_events("actor_id")


class AccountNamedByEvents(LoyaltyAccount):
    class Meta:
        proxy = True
        default_permissions = ()
        triggers = named_by_events("account_id")


class ApiClientNamedByEvents(ApiClient):
    class Meta:
        proxy = True
        default_permissions = ()
        triggers = named_by_events("api_client_id")
