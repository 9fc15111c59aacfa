"""API clients (integrations that call the REST API with a hashed key) and the audit log."""

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey


class ApiClient(AbstractAPIKey):
    """An integration's key. Only the key's hash is stored (djangorestframework-api-key).

    `scopes` is a comma-separated subset of "read,write". `rate_limit` is requests per minute.
    """

    SCOPES = ("read", "write")

    scopes = models.CharField(max_length=40, default="read,write")
    rate_limit = models.PositiveIntegerField(default=100, help_text="Requests per minute.")

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API client"
        verbose_name_plural = "API clients"

    def has_scope(self, scope: str) -> bool:
        return scope in {s.strip() for s in self.scopes.split(",")}


class AuditEntry(models.Model):
    """Who did what, when and from where. Append-only at the database: triggers refuse UPDATE
    and DELETE (pgtrigger on PostgreSQL, migration 0003 on SQLite)."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_entries",
    )
    api_client = models.ForeignKey(
        ApiClient, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_entries"
    )
    action = models.CharField(max_length=60)
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=191, blank=True)
    summary = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["created_at", "id"], name="audit_created"),
            models.Index(fields=["action", "created_at", "id"], name="audit_action_created"),
            models.Index(fields=["actor", "created_at", "id"], name="audit_actor_created"),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
                when=pgtrigger.Before,
                func="RAISE EXCEPTION 'audit entries are append-only: % refused', TG_OP;",
            ),
            pgtrigger.Trigger(
                name="append_only_truncate",
                operation=pgtrigger.Truncate,
                level=pgtrigger.Statement,
                when=pgtrigger.Before,
                func="RAISE EXCEPTION 'audit entries are append-only: % refused', TG_OP;",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action}"
