from django.urls import path

from loyalty_admin.urls import urlpatterns as app_urlpatterns

from .views import bare_adjust

urlpatterns = [
    path("bench/bare/<uuid:account_id>/adjust", bare_adjust),
    *app_urlpatterns,
]
