"""Every API route: the native API, the Square Loyalty and Yotpo dialects, schema and docs."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
