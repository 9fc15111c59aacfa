"""Console pages of this app (server-rendered, HTMX)."""

from django.urls import path

from . import (
    account,
    approvals,
    bulk,
    history,
    operations,
    reasons,
    reversals,
    rewards,
    webhooks,
)

urlpatterns = [
    path("accounts/<uuid:account_id>/", account.account_detail, name="account"),
    path(
        "accounts/<uuid:account_id>/adjustments/preview",
        account.adjustment_preview,
        name="adjustment-preview",
    ),
    path(
        "accounts/<uuid:account_id>/adjustments",
        account.adjustment_create,
        name="adjustment-create",
    ),
    # Account operations: merge a duplicate into this account, transfer points from it.
    path(
        "accounts/<uuid:account_id>/operations/candidates",
        operations.candidates,
        name="operation-candidates",
    ),
    path(
        "accounts/<uuid:account_id>/merge/preview", operations.merge_preview, name="merge-preview"
    ),
    path("accounts/<uuid:account_id>/merge", operations.merge_create, name="merge-create"),
    path(
        "accounts/<uuid:account_id>/transfer/preview",
        operations.transfer_preview,
        name="transfer-preview",
    ),
    path("accounts/<uuid:account_id>/transfer", operations.transfer_create, name="transfer-create"),
    path("reasons/", reasons.reasons, name="reasons"),
    path("bulk/", bulk.bulk_uploads, name="bulk"),
    path("bulk/<uuid:batch_id>/", bulk.bulk_batch, name="bulk-batch"),
    path("bulk/<uuid:batch_id>/apply", bulk.bulk_apply, name="bulk-apply"),
    path("reasons/<int:reason_id>/", reasons.reason_change, name="reason-change"),
    path("reasons/<int:reason_id>/active", reasons.reason_active, name="reason-active"),
    path("history/", history.history, name="history"),
    path("history/summary", history.history_summary, name="history-summary"),
    path("history/export.csv", history.history_export, name="history-export"),
    path("events/<uuid:event_id>/", reversals.event_detail, name="event"),
    path("events/<uuid:event_id>/reverse", reversals.event_reverse, name="event-reverse"),
    path("events/<uuid:event_id>/reverse/form", reversals.reversal_form, name="reversal-form"),
    path("approvals/", approvals.approvals, name="approvals"),
    path(
        "approvals/<uuid:approval_id>/approve", approvals.approval_approve, name="approval-approve"
    ),
    path("approvals/<uuid:approval_id>/reject", approvals.approval_reject, name="approval-reject"),
    # rewards
    path("reward-tiers/", rewards.tiers, name="reward-tiers"),
    path("reward-tiers/<uuid:tier_id>/rename", rewards.tier_rename, name="reward-tier-rename"),
    path("reward-tiers/<uuid:tier_id>/retire", rewards.tier_retire, name="reward-tier-retire"),
    path(
        "accounts/<uuid:account_id>/rewards/preview",
        rewards.reward_preview,
        name="reward-preview",
    ),
    path("accounts/<uuid:account_id>/rewards", rewards.reward_create, name="reward-create"),
    path("rewards/<uuid:reward_id>/redeem", rewards.reward_redeem, name="reward-redeem"),
    path("rewards/<uuid:reward_id>/delete", rewards.reward_delete, name="reward-delete"),
    # Webhooks
    path("webhooks/", webhooks.subscriptions, name="webhooks"),
    path("webhooks/<str:subscription_id>/", webhooks.subscription_detail, name="webhook"),
    path("webhooks/<str:subscription_id>/test", webhooks.subscription_test, name="webhook-test"),
    path(
        "webhooks/<str:subscription_id>/rotate",
        webhooks.subscription_rotate_key,
        name="webhook-rotate",
    ),
    path(
        "webhooks/<str:subscription_id>/delete", webhooks.subscription_delete, name="webhook-delete"
    ),
    path(
        "webhooks/<str:subscription_id>/notifications/<int:notification_id>/resend",
        webhooks.notification_resend,
        name="webhook-resend",
    ),
]
