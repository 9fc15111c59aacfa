"""API clients: integrations that call the REST API with a hashed key."""

from django.db import models
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
