"""Customers' side of the ledger: programs and loyalty accounts.

An account's `balance` and `lifetime_points` are a cache of its events' sums, written only by
`ledger.services` under a row lock (DESIGN.md invariant 1). Identity fields are normalized
before they reach the database, and the database refuses what slipped through: emails are
lowercase, phones are E.164, and each of customer_id, email, phone and pos_account_id is unique
per program.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class ProgramQuerySet(models.QuerySet):
    def resolve(self, id_or_alias: str) -> "Program":
        """The program named by its id or alias; `main` is the default program.

        Raises Program.DoesNotExist.
        """
        if id_or_alias == "main":
            return self.get(is_default=True)
        try:
            return self.get(pk=uuid.UUID(str(id_or_alias)))
        except ValueError:
            return self.get(alias=id_or_alias)


class Program(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "ACTIVE"
        INACTIVE = "INACTIVE"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    alias = models.SlugField(max_length=64, unique=True, null=True, blank=True)
    is_default = models.BooleanField(default=False)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    terminology_one = models.CharField(max_length=40, default="Point")
    terminology_other = models.CharField(max_length=40, default="Points")
    expiration_policy = models.CharField(
        max_length=40,
        blank=True,
        help_text="ISO-8601 duration after which earned points expire (e.g. P12M); empty: never.",
    )
    approval_threshold = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Agent adjustments larger than this many points wait for a manager.",
    )
    agent_daily_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How many points one agent may grant in a rolling 24 hours before the next "
        "grant waits for a manager; empty: no limit.",
    )
    location_ids = models.JSONField(default=list, blank=True)
    # The accrual rule (Square's SPEND rule): `accrual_points` for every whole
    # `accrual_amount` (in the currency's smallest unit) spent; used by "calculate".
    accrual_points = models.PositiveIntegerField(
        default=1, help_text="Points earned for every whole accrual amount spent."
    )
    accrual_amount = models.PositiveIntegerField(
        default=100, help_text="Spend that earns the accrual points, in cents (100 = 1.00)."
    )
    currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217 code.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProgramQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="one_default_program",
            ),
            models.CheckConstraint(
                condition=Q(accrual_amount__gt=0), name="program_accrual_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def points_label(self, n: int) -> str:
        return self.terminology_one if abs(n) == 1 else self.terminology_other


class LoyaltyAccount(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by the (program, ...) unique constraints below.
    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, related_name="accounts", db_index=False
    )
    customer_id = models.CharField(max_length=191, null=True, blank=True)
    email = models.EmailField(max_length=254, null=True, blank=True)
    phone = models.CharField(max_length=20, null=True, blank=True, help_text="E.164")
    # The customer's id in the point-of-sale system (Yotpo's `pos_account_id`).
    pos_account_id = models.CharField(max_length=191, null=True, blank=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    balance = models.BigIntegerField(default=0)
    lifetime_points = models.BigIntegerField(default=0)
    enrolled_at = models.DateTimeField()
    created_at = models.DateTimeField()
    # A merged account is closed: it keeps its history and identities, refuses new events,
    # and every look-up by one of its identities finds the surviving account.
    merged_into = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="merged_accounts"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    # Also the time of the newest event: the ledger keeps event times strictly increasing per
    # account, so the newest event is always the last one in (created_at, id) order.
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "customer_id"], name="uniq_customer_id"),
            models.UniqueConstraint(fields=["program", "email"], name="uniq_email"),
            models.UniqueConstraint(fields=["program", "phone"], name="uniq_phone"),
            models.UniqueConstraint(
                fields=["program", "pos_account_id"], name="uniq_pos_account_id"
            ),
            models.CheckConstraint(condition=Q(email=Lower("email")), name="email_lowercase"),
            models.CheckConstraint(condition=Q(phone__startswith="+"), name="phone_e164"),
            models.CheckConstraint(
                condition=Q(merged_into__isnull=True, closed_at__isnull=True)
                | Q(merged_into__isnull=False, closed_at__isnull=False),
                name="account_closed_by_merge",
            ),
            models.CheckConstraint(
                condition=~Q(merged_into=models.F("id")), name="account_not_merged_into_itself"
            ),
        ]
        indexes = [
            # Prefix search (accounts.selectors) reads the unique (program, field) indexes: in
            # byte order, the range of a prefix and the order of results. On PostgreSQL the
            # identity columns are stored in the "C" collation for it (migration 0008).
            models.Index(fields=["program", "created_at", "id"], name="account_program_created"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_closed(self) -> bool:
        return self.merged_into_id is not None

    def surviving(self) -> "LoyaltyAccount":
        """The account that holds this customer's points now: itself, or the one it was
        merged into (merges re-point earlier merges, so there is never more than one hop)."""
        return self.merged_into if self.merged_into_id is not None else self

    @property
    def display_name(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.email or self.phone or self.customer_id or str(self.id)
