"""Console pages of this app (server-rendered, HTMX)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import views
from .forms import OperatorLoginForm

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            authentication_form=OperatorLoginForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.search, name="search"),
    path("program/", views.program_settings, name="program-settings"),
]
