"""Who acts: the one argument every command takes to know who changes the ledger, through
which face, and what their role lets them do.

An actor is an operator (a console user, or the same user on the native API with their
session), an API client (a key: the native API, the Square and Yotpo dialects), or the
system (expiry). The rules that depend on who acts are here and nowhere else:

* managers may override the balance check and reverse events; agents may not;
* an agent's adjustment above the program's approval threshold is held for a manager;
* API clients are trusted integrations: never held (scopes and the rate limit bound them),
  and they may override the balance check, as Square's `allow_negative_balance` documents.
"""

from dataclasses import dataclass
from functools import cached_property

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Model

from accounts.models import Program
from loyalty_admin import audit
from loyalty_admin.models import ApiClient
from loyalty_admin.roles import is_manager

from ..exceptions import NotAllowed
from ..models import LoyaltyEvent

Source = LoyaltyEvent.Source


@dataclass(frozen=True)
class Actor:
    source: str  # the face: a LoyaltyEvent.Source
    operator: AbstractBaseUser | None = None
    api_client: ApiClient | None = None
    ip: str | None = None

    @classmethod
    def of_operator(
        cls, user: AbstractBaseUser, *, source: str = Source.ADMIN_UI, ip: str | None = None
    ) -> "Actor":
        return cls(source=source, operator=user, ip=ip)

    @classmethod
    def of_client(cls, client: ApiClient, *, source: str, ip: str | None = None) -> "Actor":
        return cls(source=source, api_client=client, ip=ip)

    @classmethod
    def system(cls) -> "Actor":
        return cls(source=Source.SYSTEM)

    @cached_property
    def is_manager(self) -> bool:
        return self.operator is not None and is_manager(self.operator)

    def require_manager(self, to: str) -> None:
        """NotAllowed ("Only a manager can {to}.") unless the actor is a manager."""
        if not self.is_manager:
            raise NotAllowed(f"Only a manager can {to}.")

    @property
    def may_override_balance(self) -> bool:
        return self.api_client is not None or self.is_manager

    @property
    def may_reverse(self) -> bool:
        return self.api_client is not None or self.is_manager

    def approval_threshold(self, program: Program) -> int | None:
        """Above how many points this actor's adjustment waits for a manager (None: never)."""
        if self.operator is None or self.is_manager:
            return None
        return program.approval_threshold

    @property
    def idempotency_scope(self) -> str:
        if self.api_client is not None:
            # The prefix, not the pk: an ApiClient's pk embeds the key's hash (~145 characters),
            # too long for the scope column (PostgreSQL enforces its 100; SQLite does not).
            return f"{self.source}:client:{self.api_client.prefix}"
        if self.operator is not None:
            return f"{self.source}:operator:{self.operator.pk}"
        return f"{self.source}:system"

    @property
    def event_fields(self) -> dict[str, object]:
        """Who an event records as its author."""
        return {"source": self.source, "actor": self.operator, "api_client": self.api_client}

    def audit(
        self, *, action: str, target: Model | None, summary: str, details: dict | None = None
    ) -> None:
        audit.record(
            action=action,
            actor=self.operator,
            api_client=self.api_client,
            target=target,
            summary=summary,
            details=details,
            ip=self.ip,
        )
