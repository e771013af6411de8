# Two commands do all setup: `make run` (the service on its embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run worker test lint unit integration services clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/flask --app wsgi billing migrate
	$(BIN)/flask --app wsgi run --host $(HOST) --port $(PORT)

test: install services lint
	$(BIN)/pytest tests -q

services:
	scripts/ensure-services.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy src/domain
	$(BIN)/mypy --strict src/adapters/stripe_gateway.py src/adapters/stripe_mapping.py
	$(BIN)/lint-imports

unit: install
	$(BIN)/pytest tests/unit -q

integration: install services
	$(BIN)/pytest tests/integration -q

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
