"""Console pages of the operator side: people, API clients, the audit log (managers only)."""

from django.urls import path

from . import views

urlpatterns = [
    path("people/", views.people, name="people"),
    path("people/<int:operator_id>/role", views.operator_role, name="operator-role"),
    path("people/<int:operator_id>/active", views.operator_active, name="operator-active"),
    path("people/api-clients/", views.api_clients, name="api-clients"),
    path(
        "people/api-clients/<str:prefix>/revoke",
        views.api_client_revoke,
        name="api-client-revoke",
    ),
    path("audit/", views.audit, name="audit"),
]
