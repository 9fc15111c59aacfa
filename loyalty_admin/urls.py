from django.contrib import admin
from django.urls import include, path

from .health import health, ready
from .metrics import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health", health, name="health"),
    path("ready", ready, name="ready"),
    path("metrics", metrics, name="metrics"),
    path("", include("ledger.api.urls")),
    path("", include("accounts.urls")),
    path("", include("ledger.console.urls")),
    path("", include("loyalty_admin.people_urls")),
]
