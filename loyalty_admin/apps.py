from django.apps import AppConfig


class LoyaltyAdminConfig(AppConfig):
    name = "loyalty_admin"
    verbose_name = "Operators and API clients"
