# Two commands do all setup: `make run` (the service on its embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run worker scheduler stack test lint unit integration contract contract-cassettes \
	contract-record services mutation clean

$(BIN)/.installed: pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]" -e "./clients/python[flask]"
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/flask --app wsgi billing migrate
	$(BIN)/flask --app wsgi run --host $(HOST) --port $(PORT)

# Postgres and Redis for `make worker`, `make scheduler` and `make stack` (override either).
STACK_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/billing
STACK_REDIS_URL ?= redis://127.0.0.1:6379/0
STACK_ENV = DATABASE_URL="$${DATABASE_URL:-$(STACK_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-$(STACK_REDIS_URL)}"

# A worker for every queue, as the Procfile's worker and bulk-worker together.
worker: install
	$(STACK_ENV) $(BIN)/python -m entrypoints.worker urgent webhooks bulk

scheduler: install
	$(STACK_ENV) $(BIN)/python -m entrypoints.worker.scheduler

# Web, worker and scheduler on Postgres and Redis; Ctrl-C stops all three.
stack: install
	$(STACK_ENV) HOST=$(HOST) PORT=$(PORT) BIN=$(BIN) scripts/stack.sh

test: install services lint
	$(BIN)/pytest tests -q

services:
	scripts/ensure-services.sh
	scripts/ensure-browser.sh
	scripts/ensure-stripe-cli.sh

lint: install
	scripts/check-secrets.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict src
	cd clients/python && ../../$(BIN)/mypy --strict src
	$(BIN)/lint-imports

unit: install
	$(BIN)/pytest tests/unit -q

integration: install services
	$(BIN)/pytest tests/integration -q

contract: install
	$(BIN)/pytest tests/contract -q

# Rebuild the cassettes from Stripe's published fixture objects (a local stand-in answers).
contract-cassettes: install
	rm -f tests/contract/cassettes/*.yaml
	CONTRACT_MODE=stub $(BIN)/pytest tests/contract -q -p no:logging

# Re-record against a Stripe test-mode account: STRIPE_SECRET_KEY=sk_test_... make contract-record
contract-record: install
	CONTRACT_MODE=stripe $(BIN)/pytest tests/contract -q -p no:logging

# Mutation testing of the money and billing rules against the unit tests (README, "Mutation
# testing"): slow, so run by hand before a release, never part of `make test`. A fresh run each
# time, so the score never counts a result from older code or tests.
mutation: install
	rm -rf mutants
	$(BIN)/mutmut run
	$(BIN)/mutmut results --all true | $(BIN)/python scripts/mutation_score.py

# Every benchmark, then one table: figure, same-run baseline, ratio, target (README,
# "Benchmarks"). `make bench BENCH_ARGS=--ledger` adds ingest and invoicing at 1M and 20M rows.
.PHONY: bench
bench: install services
	command -v wrk >/dev/null || { s=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$s apt-get install -y wrk || { $$s apt-get update -qq && $$s apt-get install -y wrk; }; }
	$(BIN)/python bench/table.py $(BENCH_ARGS)

clean:
	rm -rf mutants $(VENV) instance .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
