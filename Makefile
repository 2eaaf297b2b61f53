# The two commands: `make run` (the whole stack) and `make test` (the whole suite).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: run test bench lock compose-check compose-up-test system-deps clean

$(BIN)/activate:
	@python=$$(./scripts/find-python) && echo "Using $$python" && "$$python" -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

run: export RUN_STARTED_AT := $(shell date +%s.%N)
run: export DJANGO_DEBUG ?= 1
run: export PATH := $(abspath $(BIN)):$(PATH)
run: $(VENV)/.installed
	$(PY) manage.py runstack

# Two test processes (pytest-xdist), each with its own test database and Redis database, in random order
# (pytest-randomly prints the seed; rerun one with PYTEST_ARGS="-p randomly --randomly-seed=N").
TEST_PROCESSES ?= 2
test: export PATH := $(abspath $(BIN)):$(PATH)
test: $(VENV)/.dev-installed system-deps
	$(BIN)/pytest -n $(TEST_PROCESSES) $(PYTEST_ARGS)

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
# third-party images replaced by offline stand-ins; then tests/compose over the published ports. About 5 minutes
# warm; the first run builds the base images (docker/standins) too.
compose-up-test: $(VENV)/.dev-installed
	./scripts/compose-ci $(PYTEST_ARGS)

lock: $(VENV)/.dev-installed
	$(BIN)/pip-compile --quiet --strip-extras --no-header --output-file requirements.txt requirements.in
	$(BIN)/pip-compile --quiet --strip-extras --no-header --output-file requirements-dev.txt requirements-dev.in

clean:
	rm -rf $(VENV) .run staticfiles
