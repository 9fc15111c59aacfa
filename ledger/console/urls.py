"""Console pages of this app (server-rendered, HTMX)."""

from django.urls import path

from . import views

urlpatterns = [
    path("accounts/<uuid:account_id>/", views.account_detail, name="account"),
    path(
        "accounts/<uuid:account_id>/adjustments/preview",
        views.adjustment_preview,
        name="adjustment-preview",
    ),
    path(
        "accounts/<uuid:account_id>/adjustments", views.adjustment_create, name="adjustment-create"
    ),
    path("reasons/", views.reasons, name="reasons"),
    path("bulk/", views.bulk_uploads, name="bulk"),
    path("bulk/<uuid:batch_id>/", views.bulk_batch, name="bulk-batch"),
    path("bulk/<uuid:batch_id>/apply", views.bulk_apply, name="bulk-apply"),
    path("reasons/<int:reason_id>/", views.reason_change, name="reason-change"),
    path("reasons/<int:reason_id>/active", views.reason_active, name="reason-active"),
    path("history/", views.history, name="history"),
    path("history/export.csv", views.history_export, name="history-export"),
    path("events/<uuid:event_id>/", views.event_detail, name="event"),
    path("events/<uuid:event_id>/reverse", views.event_reverse, name="event-reverse"),
    path("approvals/", views.approvals, name="approvals"),
    path("approvals/<uuid:approval_id>/approve", views.approval_approve, name="approval-approve"),
    path("approvals/<uuid:approval_id>/reject", views.approval_reject, name="approval-reject"),
]
