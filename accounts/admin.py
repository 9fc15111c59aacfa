from django.contrib import admin

from .models import LoyaltyAccount, Program


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = ["name", "alias", "is_default", "status", "approval_threshold"]


@admin.register(LoyaltyAccount)
class LoyaltyAccountAdmin(admin.ModelAdmin):
    list_display = ["email", "phone", "customer_id", "balance", "lifetime_points", "program"]
    search_fields = ["=email", "=phone", "=customer_id"]
    readonly_fields = ["balance", "lifetime_points"]
    show_full_result_count = False
