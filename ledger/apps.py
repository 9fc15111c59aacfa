from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger"

    def ready(self) -> None:
        from loyalty_admin.metrics import register_state

        from .metrics import LedgerStateCollector

        register_state(LedgerStateCollector())
