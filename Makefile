# Two commands: `make run` and `make test`. Everything else is set up on the way.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/hyperstudy
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup services run test test-postgres test-sqlite lint check bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

# PostgreSQL, Redis and Chromium for the suite: installed (Debian, root) and started when
# missing. `make services DRY_RUN=1` prints what it would do.
services:
	SERVICES_DATABASE=$(lastword $(subst /, ,$(PG_URL))) bash scripts/services.sh $(if $(DRY_RUN),--dry-run)

# The dashboard and a Celery worker (with beat) on the embedded default, or on
# PostgreSQL and Redis when DATABASE_URL and REDIS_URL are set.
run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py collectstatic --noinput --verbosity 0
	HOST=$(HOST) PORT=$(PORT) bash scripts/run.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

check: setup
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

# The servers it needs, then the whole suite on PostgreSQL + Redis (with a real worker and
# Chromium), then everything that does not need those servers again on SQLite.
test: services setup lint check test-postgres test-sqlite

# axe-core for the browser tests' accessibility scan, from the npm registry (package.json;
# the dashboard itself needs no npm package).
node_modules/.installed: package.json package-lock.json
	command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test-postgres: setup node_modules/.installed
	DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} REDIS_URL=$${REDIS_URL:-$(REDIS_TEST_URL)} \
	  $(PY) -m pytest $(PYTEST_ARGS)

test-sqlite: setup
	DATABASE_URL=sqlite:///$(CURDIR)/var/test.sqlite3 REDIS_URL= \
	  $(PY) -m pytest -m "not postgres and not redis and not worker and not browser and not smoke" $(PYTEST_ARGS)

# Every benchmark, each printing our time, its baseline's and the ratio (PostgreSQL + Redis;
# browse.py's section 6 also Chromium, which `services` installs like for the tests).
BENCH_URL ?= postgres://postgres@127.0.0.1:5432/hyperstudy_large
bench: services setup
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/hs_bench_ingest $(PY) benchmarks/ingest.py
	DATABASE_URL=$(BENCH_URL) REDIS_URL=$(REDIS_TEST_URL) $(PY) benchmarks/browse.py
	DATABASE_URL=$(BENCH_URL) REDIS_URL=$(REDIS_TEST_URL) $(PY) benchmarks/export.py
	DATABASE_URL=$(BENCH_URL) REDIS_URL=$(REDIS_TEST_URL) $(PY) benchmarks/api.py

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache node_modules
