"""Console pages of this app (server-rendered, HTMX)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
