# The two commands: `make run` (the whole stack) and `make test` (the whole suite).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: run test lint bench lock compose-check compose-up-test system-deps clean celery manage

$(BIN)/activate:
	@python=$$(./scripts/find-python) && echo "Using $$python" && "$$python" -m venv $(VENV)

# Three hashed lock files, each installed once and again when it changes: the runtime (what the image has),
# local tooling for `make run`, then tests and tooling.
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check --require-hashes

$(VENV)/.installed: $(BIN)/activate requirements.txt
	$(PIP_INSTALL) -r requirements.txt
	@touch $@

$(VENV)/.local-installed: $(VENV)/.installed requirements-local.txt
	$(PIP_INSTALL) -r requirements-local.txt
	@touch $@

$(VENV)/.dev-installed: $(VENV)/.local-installed requirements-dev.txt
	$(PIP_INSTALL) -r requirements-dev.txt
	@touch $@

run: export RUN_STARTED_AT := $(shell date +%s.%N)
run: export DJANGO_DEBUG ?= 1
run: export PATH := $(abspath $(BIN)):$(PATH)
run: $(VENV)/.local-installed
	$(PY) manage.py runstack

# Four test processes (pytest-xdist; most tests wait on real workers, so more processes than cores pay),
# each with its own test database and Redis database, in random order
# (pytest-randomly prints the seed; rerun one with PYTEST_ARGS="-p randomly --randomly-seed=N").
TEST_PROCESSES ?= 4
test: export PATH := $(abspath $(BIN)):$(PATH)
test: $(VENV)/.dev-installed system-deps
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist worksteal $(PYTEST_ARGS)

# The house rules alone, in seconds (`make test` runs them too, in tests/test_architecture.py): ruff's lint
# and format rules from pyproject.toml, then the import contracts in .importlinter.
lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# The project's command lines beside `make run`, with its virtualenv and settings (same variables, same
# embedded ports): make celery ARGS="inspect registered", make manage ARGS="check_queues".
celery manage: export DJANGO_DEBUG ?= 1
celery: $(VENV)/.local-installed
	$(BIN)/celery -A myproject $(ARGS)
manage: $(VENV)/.local-installed
	$(PY) manage.py $(ARGS)

# Every benchmark on this machine, written to BENCHMARKS.md; reports only, never fails on a missed target.
bench: export PATH := $(abspath $(BIN)):$(PATH)
bench: $(VENV)/.dev-installed
	$(PY) -m bench.run $(BENCH_ARGS)

system-deps:
	@./scripts/system-deps

compose-check: system-deps
	FLOWER_BASIC_AUTH=ci:checking-only DJANGO_SECRET_KEY=ci POSTGRES_PASSWORD=ci docker-compose -f docker-compose.yml config --quiet
	@echo "docker-compose.yml is valid"

# The real Dockerfile and docker-compose.yml in a real Docker engine (started here when none runs, as root),
# third-party images replaced by offline stand-ins; then tests/compose over the published ports. About 14 minutes
# (measured on 2 cores: a minute of image builds with nothing cached, 13 of tests, 5 of which wait out the
# visibility timeout after a worker's SIGKILL); base images are cached by the hash of their inputs.
compose-up-test: $(VENV)/.dev-installed
	./scripts/compose-ci $(PYTEST_ARGS)

# Every pin with its hashes and no index or find-links lines (a machine's pip.conf stays out of the files);
# in this order, as each file is constrained to the ones before it. Keeps the current pins;
# PIP_COMPILE_ARGS="--upgrade-package NAME" (or "--upgrade") moves them.
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe \
	--strip-extras --no-emit-index-url --no-emit-find-links $(PIP_COMPILE_ARGS)

lock: $(VENV)/.dev-installed
	$(PIP_COMPILE) --output-file requirements.txt requirements.in
	$(PIP_COMPILE) --output-file requirements-local.txt requirements-local.in
	$(PIP_COMPILE) --output-file requirements-dev.txt requirements-dev.in

clean:
	rm -rf $(VENV) .run staticfiles
