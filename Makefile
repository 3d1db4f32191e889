# Fiko developer commands. `make run` and `make test` work on a fresh clone with Python 3.11.
#
#   make run              venv + install + migrate + seed_demo, print logins and a JWT, serve on :8000
#   make run PORT=8010    the same on another port
#   make test             the whole suite (PostgreSQL/Redis tests need DATABASE_URL/REDIS_URL)
#   make migrate | seed | token | venv
#   make bench            Fiko vs the Channels tutorial peer and raw websockets (bench/README.md;
#                         needs PostgreSQL and Redis; BENCH_SCALE=0.1 BENCH_SECONDS=5 for a quick run)
#   make bench-search     lists and search at 1M customers / 300k conversations / 3M messages against
#                         the targets (bench/search.py; PostgreSQL; BENCH_SEARCH_SCALE=0.01 for a quick run)
#
# SQLite and the in-memory channel layer unless DATABASE_URL / REDIS_URL are set.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=

BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements

# Development only: the dev secret key is accepted when DEBUG is on.
DEV_ENV := DEBUG=$${DEBUG:-true} PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://$(HOST):$(PORT)}

.PHONY: run test venv migrate seed token bench bench-search

run: migrate seed
	@$(DEV_ENV) $(BIN)/python manage.py print_demo_token --base-url http://$(HOST):$(PORT)
	@$(DEV_ENV) HOST=$(HOST) PORT=$(PORT) VENV=$(VENV) exec scripts/run_dev.sh

test: venv
	@$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests; that is a failure" >&2; exit 1; fi; \
	exit $$status

venv: $(STAMP)

# Reinstalls when requirements.txt changes (the stamp is older) or the venv is missing.
$(STAMP): requirements.txt
	@test -n "$(PYTHON)" || { echo "make: python3 (3.11) not found" >&2; exit 1; }
	@"$(PYTHON)" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
		|| { echo "make: $(PYTHON) is older than Python 3.10 (Django 5.2 needs >= 3.10; use 3.11)" >&2; exit 1; }
	@test -x $(BIN)/python || { echo "Creating $(VENV) with $(PYTHON)"; "$(PYTHON)" -m venv $(VENV); }
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $(STAMP)

migrate: venv
	@$(DEV_ENV) $(BIN)/python manage.py migrate --noinput

seed: migrate
	@$(DEV_ENV) $(BIN)/python manage.py seed_demo

token: venv
	@$(DEV_ENV) $(BIN)/python manage.py print_demo_token --base-url http://$(HOST):$(PORT)

bench: venv
	@$(BIN)/python bench/run.py

bench-search: venv
	@$(BIN)/python bench/search.py
