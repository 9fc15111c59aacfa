from django.apps import AppConfig


class LoyaltyAdminConfig(AppConfig):
    name = "loyalty_admin"
    verbose_name = "Operators and API clients"

    def ready(self) -> None:
        # audit connects the login receivers, request_log the request log's.
        from . import audit, request_log  # noqa: F401

        request_log.configure_structlog()
