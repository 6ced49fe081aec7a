# Wirewatch: `make run` sets everything up and runs it; `make test` sets everything up and runs every test tier;
# `make chaos` runs the chaos tier at the full figures.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test chaos demo kafka postgres build-tools compose-tool browser-tool stop lint schemas bench clean

LOCK := requirements.lock

.PHONY: lock

# Exactly the locked versions, each file checked against its SHA-256 (the spaCy model wheel too), then Wirewatch
# itself without dependencies: every one of them is in the lock. `make lock` rewrites the lock after a change
# to pyproject.toml's dependencies.
$(STAMP): pyproject.toml $(LOCK) | build-tools
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $(STAMP)

lock:
	@test -x $(BIN)/pip-compile || $(BIN)/pip install --quiet "pip-tools>=7.4,<8"
	$(BIN)/pip-compile --generate-hashes --allow-unsafe --extra dev --strip-extras --no-emit-find-links \
		--output-file $(LOCK) pyproject.toml

kafka: $(STAMP)
	bash deploy/kafka/kafka.sh start

postgres:
	bash deploy/postgres/pg.sh start

# Debian's docker-compose validates docker-compose.yml in the tests; optional, so a failure only warns.
# PyICU (rigour's text normalisation, for entity names) is published as source only: it builds against ICU.
build-tools:
	@{ command -v pkg-config >/dev/null && pkg-config --exists icu-uc && command -v g++ >/dev/null; } || { [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		libicu-dev pkg-config g++ >/dev/null); } || { echo "error: PyICU needs ICU to build: apt-get install libicu-dev pkg-config g++"; exit 2; }

compose-tool:
	@command -v docker-compose >/dev/null || { [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null) \
		|| echo "warning: docker-compose not installed; the compose file is checked without it"; }

# Debian's Chromium renders the dashboard in the tests (headless); optional, so a failure only warns.
browser-tool:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null) \
		|| echo "warning: chromium not installed; the dashboard browser test is skipped"; }

run: $(STAMP) kafka
	$(BIN)/wirewatch run

demo: $(STAMP) kafka
	$(BIN)/wirewatch demo

test: $(STAMP) kafka postgres compose-tool browser-tool lint
	WIREWATCH_TEST_DATABASE_URL="$$(bash deploy/postgres/pg.sh url)" $(BIN)/pytest tests

# The chaos tier and the long e2e rows at the full figures of RELIABILITY.md (docs/reliability.md); `make test` runs
# the same tests at smaller sizes to stay within half an hour on two cores. The figures print at the end of the run
# and land in test-artifacts/figures.json. pytest runs them one after another.
CHAOS_SIZES := WIREWATCH_CHAOS_ARTICLES=20000 WIREWATCH_POISON_MESSAGES=10000 WIREWATCH_CHAOS_FEEDS=500 \
	WIREWATCH_BACKPRESSURE_ARTICLES=100000 WIREWATCH_EVENT_GROUP_KEYS=100000
CHAOS_TESTS := tests/chaos tests/e2e/test_backpressure.py tests/e2e/test_event_group_bound.py tests/e2e/test_ops.py \
	tests/e2e/test_alert_chaos.py tests/unit/test_event_retention.py

chaos: $(STAMP) kafka postgres
	WIREWATCH_TEST_DATABASE_URL="$$(bash deploy/postgres/pg.sh url)" $(CHAOS_SIZES) $(BIN)/pytest $(CHAOS_TESTS)

lint: $(STAMP)
	$(BIN)/ruff check streams agents schemas tests benchmarks
	$(BIN)/ruff format --check streams agents schemas tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

schemas: $(STAMP)
	$(BIN)/python -m schemas.generate

bench: $(STAMP) kafka postgres
	$(BIN)/python -m benchmarks.run

stop:
	-bash deploy/kafka/kafka.sh stop
	-bash deploy/postgres/pg.sh stop

clean: stop
	rm -rf .local $(VENV)
