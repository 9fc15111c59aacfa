"""Console pages of this app (server-rendered, HTMX)."""

from django.urls import path

from . import views

urlpatterns = [
    path(
        "accounts/<uuid:account_id>/adjustments/preview",
        views.adjustment_preview,
        name="adjustment-preview",
    ),
    path(
        "accounts/<uuid:account_id>/adjustments", views.adjustment_create, name="adjustment-create"
    ),
    path("reasons/", views.reasons, name="reasons"),
    path("reasons/<int:reason_id>/", views.reason_change, name="reason-change"),
    path("reasons/<int:reason_id>/active", views.reason_active, name="reason-active"),
]
