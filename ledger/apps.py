from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger"

    def ready(self) -> None:
        from loyalty_admin.metrics import register_state

        from .metrics import LedgerStateCollector

        register_state(LedgerStateCollector())

        from accounts.signals import program_updated

        from .services.webhooks import notify_program_updated

        program_updated.connect(
            lambda sender, program, **kwargs: notify_program_updated(program),
            weak=False,
            dispatch_uid="ledger.webhooks.program_updated",
        )
