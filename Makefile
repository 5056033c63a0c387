# Every target sets itself up: a virtual environment with the locked Python dependencies.
# `make run` starts the service on embedded PostgreSQL and Valkey unless DATABASE_URL /
# REDIS_URL are set; `make test` runs lint, types, the import contract and the test suite.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-slow lint bench lock clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

run: $(STAMP)
	$(BIN)/swarm-ledger demo

lint: $(STAMP)
	$(BIN)/ruff check ledger workers tests bench migrations
	$(BIN)/ruff format --check ledger workers tests bench migrations
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -q

bench: $(STAMP)
	$(BIN)/python -m bench.ledger_bench
	$(BIN)/python -m bench.telemetry_bench
	$(BIN)/python -m bench.epoch_bench

lock:
	rm -rf /tmp/swarm-lock-venv && $(PYTHON) -m venv /tmp/swarm-lock-venv
	/tmp/swarm-lock-venv/bin/pip install -q -e '.[dev]'
	/tmp/swarm-lock-venv/bin/pip freeze --exclude-editable | grep -v '^swarm-ledger' > requirements.lock.new
	( head -2 requirements.lock; cat requirements.lock.new ) > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock && rm requirements.lock.new

clean:
	rm -rf $(VENV) .swarm-ledger
