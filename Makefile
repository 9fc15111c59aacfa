# Two commands do all set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
MANAGE := $(UV) run --frozen python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: run test test-postgres reliability backup restore lint format bench bench-smoke serve deps browser wrk clean screenshots

deps: .venv/.synced

# uv (bootstrapped with pip when missing) installs the locked dependencies into .venv.
.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --quiet
	@touch $@

# Debian's Chromium for the Playwright browser tests (Playwright's own download is unavailable).
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "Installing Debian's chromium for the browser tests…"; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
				|| echo "warning: could not install chromium; browser tests will be skipped"; \
		else \
			echo "warning: chromium missing (sudo apt-get install chromium); browser tests will be skipped"; \
		fi; \
	fi

# The job worker (bulk imports, webhook deliveries) and a once-a-minute expiry, stale-batch
# check and webhook sweep run beside the dev server; Ctrl-C stops all three. In production, run
# `manage.py expire_points`, `recover_bulk_batches` and `deliver_webhooks` from cron instead
# (docs/deploy.md). Logs are human-readable here.
run: deps
	$(MANAGE) migrate --no-input -v0
	$(MANAGE) seed_demo
	@trap 'kill 0' EXIT INT TERM; \
	$(MANAGE) db_worker --no-reload -v0 & \
	(while sleep 60; do $(MANAGE) expire_points >/dev/null; $(MANAGE) recover_bulk_batches; $(MANAGE) deliver_webhooks >/dev/null; $(MANAGE) compact_event_tallies >/dev/null; done) & \
	$(MANAGE) runserver $(HOST):$(PORT)

test: deps browser
	$(UV) run --frozen pytest

test-postgres: deps browser
	DATABASE_URL=$(PG_URL) $(UV) run --frozen pytest

# The long load run (RELIABILITY_SECONDS, default 3 minutes) and the fault and retry tests,
# against gunicorn on PostgreSQL; prints the figures docs/reliability.md quotes.
RELIABILITY_SECONDS ?= 180
# It also restarts PostgreSQL under load: a cluster of the test's own on RELIABILITY_PG_PORT
# (5434), created with pg_createcluster (as root) and dropped afterwards, never the shared one.
reliability: deps
	RELIABILITY_LOAD_SECONDS=$(RELIABILITY_SECONDS) RELIABILITY_DATABASE_RESTART=1 \
		DATABASE_URL=$(PG_URL) $(UV) run --frozen pytest tests/reliability -s -q -p no:cacheprovider

# Backup and restore (docs/deploy.md, "Backups"): pg_dump's custom format of DATABASE_URL,
# by default into var/backups/loyalty-<UTC time>.dump; `make restore FROM=file.dump
# RESTORE_URL=postgres://…/empty_db` loads one into an empty database in one transaction
# (all or nothing), the append-only triggers included.
BACKUP ?= var/backups/loyalty-$(shell date -u +%Y%m%dT%H%M%SZ).dump
backup:
	@test -n "$$DATABASE_URL" || { echo "Set DATABASE_URL to the database to back up."; exit 2; }
	@mkdir -p "$(dir $(BACKUP))"
	pg_dump --format=custom --no-owner --no-privileges --file="$(BACKUP)" "$$DATABASE_URL"
	@echo "Backed up to $(BACKUP)"

restore:
	@test -n "$(FROM)" || { echo "Name the dump: make restore FROM=file.dump RESTORE_URL=…"; exit 2; }
	@test -n "$$RESTORE_URL" || { echo "Set RESTORE_URL to an empty database."; exit 2; }
	pg_restore --exit-on-error --single-transaction --no-owner --no-privileges \
		--dbname="$$RESTORE_URL" "$(FROM)"
	@echo "Restored $(FROM); check it with: DATABASE_URL=… python manage.py check_ledger"

# Re-take the README's screenshots (docs/screenshots/) with the browser tests.
screenshots: deps browser
	UPDATE_SCREENSHOTS=1 $(UV) run --frozen pytest tests/browser -q

# Production serving: gunicorn, static files collected and served by whitenoise, settings from
# the environment (DATABASE_URL, REDIS_URL, SECRET_KEY, ALLOWED_HOSTS; DEBUG off unless set).
# WEB_CONCURRENCY workers (default 4), one JSON log line per request (no separate access log),
# /metrics summed over the workers through PROMETHEUS_MULTIPROC_DIR. See docs/deploy.md.
serve: deps
	DEBUG=$${DEBUG:-0} $(MANAGE) collectstatic --no-input -v0
	DEBUG=$${DEBUG:-0} $(MANAGE) migrate --no-input -v0
	rm -rf "$${PROMETHEUS_MULTIPROC_DIR:-var/prometheus}" && mkdir -p "$${PROMETHEUS_MULTIPROC_DIR:-var/prometheus}"
	DEBUG=$${DEBUG:-0} PROMETHEUS_MULTIPROC_DIR=$${PROMETHEUS_MULTIPROC_DIR:-var/prometheus} \
		$(UV) run --frozen gunicorn loyalty_admin.wsgi -c loyalty_admin/gunicorn.conf.py \
		--workers $${WEB_CONCURRENCY:-4} --bind $(HOST):$(PORT)

# wrk drives the HTTP benchmarks (Debian package); installed when run as root.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null); \
		else \
			echo "wrk is missing: sudo apt-get install wrk"; exit 1; \
		fi; }

# The benchmark suite (docs/performance.md): its own PostgreSQL database (BENCH_DATABASE_URL,
# default postgres://postgres@127.0.0.1:5432/bench, dropped and re-created), Redis db 15,
# 1M accounts / 5M events, about 17 minutes on 2 cores. Writes the table into
# docs/performance.md. bench-smoke: the same on tiny data in about a minute (CI).
bench: deps wrk
	$(UV) run --frozen python -m bench.run

bench-smoke: deps wrk
	$(UV) run --frozen python -m bench.run --smoke

# ruff, then the layering contracts of pyproject.toml (import-linter): an upward import or a
# face importing another face fails the lint.
lint: deps
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen lint-imports

format: deps
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

clean:
	rm -rf .venv var staticfiles .pytest_cache
