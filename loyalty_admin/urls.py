from django.contrib import admin
from django.urls import include, path

from .health import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health", health, name="health"),
    path("", include("ledger.api.urls")),
    path("", include("accounts.urls")),
    path("", include("ledger.console.urls")),
    path("", include("loyalty_admin.people_urls")),
]
