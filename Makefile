# Tongban: `make demo` serves the demo province, `make test` runs every check CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/tongban

.PHONY: demo test serve worker bench lint typecheck imports migrations-check openapi openapi-check \
        test-sqlite test-postgres browser-deps lock clean help

help:
	@echo "make demo   - install, migrate, load the Jiangxi demo province, serve on http://127.0.0.1:$(PORT)"
	@echo "make test   - lint, type checks, import contracts, migrations and OpenAPI checks, tests on SQLite and PostgreSQL"
	@echo "make serve | worker | bench | lint | openapi | lock | clean"

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	PORT=$(PORT) $(BIN)/tongban demo --serve

serve: $(STAMP)
	PORT=$(PORT) $(BIN)/tongban serve

worker: $(STAMP)
	$(BIN)/tongban worker

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

migrations-check: $(STAMP)
	DATA_DIR=$$(mktemp -d) $(BIN)/tongban makemigrations --check --dry-run

openapi: $(STAMP)
	DATA_DIR=$$(mktemp -d) $(BIN)/tongban openapi --output docs/api/openapi.json

openapi-check: $(STAMP)
	DATA_DIR=$$(mktemp -d) $(BIN)/tongban openapi --check docs/api/openapi.json

browser-deps:
	@bash scripts/ensure-chromium.sh

test-sqlite: $(STAMP) browser-deps
	env -u DATABASE_URL DATA_DIR=$$(mktemp -d) $(BIN)/pytest

test-postgres: $(STAMP) browser-deps
	@bash scripts/ensure-postgres.sh
	DATABASE_URL=$(PG_URL) DATA_DIR=$$(mktemp -d) $(BIN)/pytest

test: lint typecheck imports migrations-check openapi-check test-sqlite test-postgres

bench: $(STAMP)
	@bash benchmarks/run_all.sh

lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
