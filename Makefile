# Fiko developer commands. `make run` and `make test` work on a fresh clone with Python 3.11.
#
#   make run              venv + install + migrate + seed_demo, print logins and a JWT, serve on :8000
#   make run PORT=8010 SIM_PORT=8091   the same on other ports (the platform simulator: SIM_PORT)
#   make test             the whole suite (PostgreSQL/Redis tests need DATABASE_URL/REDIS_URL)
#   make migrate | seed | token | shell | venv
#   make say TEXT="hello" [FROM=alice] [PLATFORM=instagram]   a simulated customer writes in
#   make bench            Fiko vs the Channels tutorial peer and raw websockets (bench/README.md;
#                         needs PostgreSQL and Redis; BENCH_SCALE=0.1 BENCH_SECONDS=5 for a quick run)
#   make bench-search     lists and search at 1M customers / 300k conversations / 3M messages against
#                         the targets (bench/search.py; PostgreSQL; BENCH_SEARCH_SCALE=0.01 for a quick run)
#
# `make run` writes .env.dev (its DEBUG, URLs, DATABASE_URL...): manage.py and the targets above
# read it, so in a second terminal they reach the same server, database and simulator.
#
# SQLite and the in-memory channel layer unless DATABASE_URL / REDIS_URL are set.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
HOST   ?= 127.0.0.1
PORT   ?= 8000
SIM_PORT ?= 8081
PYTEST_ARGS ?=

BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements

# Development only: the dev secret key is accepted when DEBUG is on. Everything else comes from
# the environment or, for manage.py, from the .env.dev that `make run` wrote.
DEV_ENV := DEBUG=$${DEBUG:-true}

.PHONY: run test venv migrate seed token say shell bench bench-search

# scripts/run_dev.sh writes .env.dev, migrates, seeds, prints the banner and serves.
run: venv
	@HOST=$(HOST) PORT=$(PORT) SIM_PORT=$(SIM_PORT) VENV=$(VENV) exec scripts/run_dev.sh

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
	@$(DEV_ENV) $(BIN)/python manage.py print_demo_token --export

# TEXT, FROM and PLATFORM reach the command through the environment: any quotes in TEXT are safe.
say: venv
	@test -n "$$TEXT" || { echo 'usage: make say TEXT="hello" [FROM=alice] [PLATFORM=telegram|instagram]' >&2; exit 2; }
	@$(DEV_ENV) $(BIN)/python manage.py platform_sim --say "$$TEXT" --from "$${FROM:-alice}" --platform "$${PLATFORM:-telegram}"

shell: venv
	@$(DEV_ENV) $(BIN)/python manage.py shell

bench: venv
	@$(BIN)/python bench/run.py

bench-search: venv
	@$(BIN)/python bench/search.py
