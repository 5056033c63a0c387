# Every target sets itself up: a virtual environment with the locked Python dependencies.
# `make run` starts the service on embedded PostgreSQL and Valkey unless DATABASE_URL /
# REDIS_URL are set; `make test` runs lint, types, the import contract and the test suite.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The Solidity toolchain (solcjs, OpenZeppelin, anvil) from package-lock.json; npm ci again only
# when the lock changes. Not --omit=optional: the anvil binary is an optional platform package.
NODE_STAMP := node_modules/.installed

.PHONY: run test test-slow schemathesis lint bench bench-settlement contracts lock clean

$(STAMP): requirements.lock pyproject.toml $(NODE_STAMP)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

$(NODE_STAMP): package-lock.json package.json
	npm ci --no-audit --no-fund
	@touch $@

# Recompile the Solidity sources into ledger/chain/artifacts/ (committed; a test checks them).
contracts: $(NODE_STAMP)
	node scripts/compile_contracts.js

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

# Kill -9 a worker mid-close; prints how long beat took to have the close redone (< 60 s).
test-recovery: $(STAMP)
	$(BIN)/python -m pytest -m slow -q -s tests/e2e/test_bounded_recovery.py

# `swarm-ledger demo` twice on one data directory (a few minutes: demo epochs are 60 s).
test-demo: $(STAMP)
	$(BIN)/python -m pytest -m slow -q -s tests/e2e/test_demo_twice.py

# The long schemathesis run (the short one is part of `make test`): every operation, positive
# and negative generation, all checks, with and without the operator token, seeded.
# SCHEMATHESIS_MAX_EXAMPLES=N examples per operation and mode; SCHEMATHESIS_SEED=S another seed.
SCHEMATHESIS_MAX_EXAMPLES ?= 300
schemathesis: $(STAMP)
	SCHEMATHESIS_MAX_EXAMPLES=$(SCHEMATHESIS_MAX_EXAMPLES) $(BIN)/python -m pytest -q -s \
		tests/integration/test_openapi.py -k schemathesis

bench: $(STAMP)
	$(BIN)/python -m bench.ledger_bench
	$(BIN)/python -m bench.telemetry_bench
	$(BIN)/python -m bench.epoch_bench

# Gas of a root post, a claim and a slash on anvil, beside a plain token transfer.
bench-settlement: $(STAMP)
	$(BIN)/python -m bench.settlement_bench

lock:
	rm -rf /tmp/swarm-lock-venv && $(PYTHON) -m venv /tmp/swarm-lock-venv
	/tmp/swarm-lock-venv/bin/pip install -q -e '.[dev]'
	/tmp/swarm-lock-venv/bin/pip freeze --exclude-editable | grep -v '^swarm-ledger' > requirements.lock.new
	( head -2 requirements.lock; cat requirements.lock.new ) > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock && rm requirements.lock.new

clean:
	rm -rf $(VENV) .swarm-ledger node_modules
