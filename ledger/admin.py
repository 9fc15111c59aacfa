from django.contrib import admin

from .models import IdempotencyRecord, LoyaltyEvent, Reason


@admin.register(Reason)
class ReasonAdmin(admin.ModelAdmin):
    list_display = ["label", "code", "program", "sign", "affects_lifetime", "active"]
    list_filter = ["program", "active"]


@admin.register(LoyaltyEvent)
class LoyaltyEventAdmin(admin.ModelAdmin):
    """Read-only: events are changed only by new events (see ledger.services)."""

    list_display = ["created_at", "account", "type", "points", "balance_after", "source", "actor"]
    list_filter = ["type", "source"]
    list_select_related = ["account", "actor"]
    search_fields = ["account__email", "account__customer_id", "history_title"]
    show_full_result_count = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ["created_at", "scope", "key", "event"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False
