"""Settings for the benchmark only: the app's settings plus a bare reference view and a
Server-Timing header. Loaded by `make bench` (DJANGO_SETTINGS_MODULE=bench.settings)."""

from loyalty_admin.settings import *  # noqa: F403
from loyalty_admin.settings import MIDDLEWARE

ROOT_URLCONF = "bench.urls"
# First, so that the header times everything the app does for a request.
MIDDLEWARE = ["bench.middleware.server_timing", *MIDDLEWARE]
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
