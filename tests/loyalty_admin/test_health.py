def test_it_reports_the_database_ok(client, db):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


def test_it_checks_redis_when_configured(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": settings.REDIS_URL,
        }
    }

    response = client.get("/health")

    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_it_answers_503_when_redis_is_unreachable(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5},
        }
    }

    response = client.get("/health")

    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error")


def test_it_refuses_post(client, db):
    assert client.post("/health").status_code == 405


def test_it_answers_plain_http_with_the_https_redirect_on(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200
    # Everything else is still redirected.
    assert client.get("/login/").status_code == 301


def test_ready_reports_migrations_applied(client, db):
    response = client.get("/ready")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "migrations": "ok"}


def test_ready_is_503_naming_a_migration_not_applied(client, db):
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    [(_, latest)] = [n for n in MigrationLoader(connection).graph.leaf_nodes() if n[0] == "ledger"]
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute("DELETE FROM django_migrations WHERE app = 'ledger' AND name = %s", [latest])

    response = client.get("/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == f"error: not applied: ledger.{latest}"
    assert client.get("/health").status_code == 200  # alive, just not ready
