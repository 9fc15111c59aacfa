from django.apps import AppConfig


class LoyaltyAdminConfig(AppConfig):
    name = "loyalty_admin"
    verbose_name = "Operators and API clients"

    def ready(self) -> None:
        from . import audit  # noqa: F401  (connects the login receivers)
