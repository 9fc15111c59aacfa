"""The load balancer's probes, answered over plain HTTP (SECURE_REDIRECT_EXEMPT).

* GET /health (liveness): 200 when the database (and Redis, when configured) answer, 503
  otherwise.
* GET /ready (readiness): the same, and every migration applied: a server started before
  `migrate` finished (or from newer code than the database) is kept out of rotation.
"""

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _checks() -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except DatabaseError as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if settings.REDIS_URL:
        try:
            cache.set("health:ping", "1", timeout=5)
            checks["redis"] = "ok" if cache.get("health:ping") == "1" else "error: no echo"
        except Exception as exc:  # any client error means Redis is not usable
            checks["redis"] = f"error: {type(exc).__name__}"
    return checks


def _answer(checks: dict[str, str]) -> JsonResponse:
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503
    )


def unapplied_migrations() -> list[str]:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{m.app_label}.{m.name}" for m, _ in plan]


@require_GET
@never_cache
def health(request: HttpRequest) -> JsonResponse:
    return _answer(_checks())


@require_GET
@never_cache
def ready(request: HttpRequest) -> JsonResponse:
    checks = _checks()
    if checks["database"] == "ok":
        try:
            missing = unapplied_migrations()
        except DatabaseError as exc:
            checks["migrations"] = f"error: {type(exc).__name__}"
        else:
            checks["migrations"] = f"error: not applied: {', '.join(missing)}" if missing else "ok"
    return _answer(checks)
