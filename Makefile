# Two commands do all set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
MANAGE := $(UV) run --frozen python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: run test test-postgres reliability lint format bench serve deps browser clean screenshots

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

# The job worker (bulk imports) and a once-a-minute expiry run beside the dev server;
# Ctrl-C stops all three. In production, run `manage.py expire_points` from cron instead.
run: deps
	$(MANAGE) migrate --no-input -v0
	$(MANAGE) seed_demo
	@trap 'kill 0' EXIT INT TERM; \
	$(MANAGE) db_worker --no-reload -v0 & \
	(while sleep 60; do $(MANAGE) expire_points >/dev/null; done) & \
	$(MANAGE) runserver $(HOST):$(PORT)

test: deps browser
	$(UV) run --frozen pytest

test-postgres: deps browser
	DATABASE_URL=$(PG_URL) $(UV) run --frozen pytest

# The long load run (RELIABILITY_SECONDS, default 3 minutes) and the fault and retry tests,
# against gunicorn on PostgreSQL; prints the figures docs/reliability.md quotes.
RELIABILITY_SECONDS ?= 180
reliability: deps
	RELIABILITY_LOAD_SECONDS=$(RELIABILITY_SECONDS) DATABASE_URL=$(PG_URL) \
		$(UV) run --frozen pytest tests/reliability -s -q -p no:cacheprovider

# Re-take the README's screenshots (docs/screenshots/) with the browser tests.
screenshots: deps browser
	UPDATE_SCREENSHOTS=1 $(UV) run --frozen pytest tests/browser -q

lint: deps
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

format: deps
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

clean:
	rm -rf .venv var staticfiles .pytest_cache
