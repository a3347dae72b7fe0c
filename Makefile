# Release Portal. `make run` starts the portal with demo data; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check --quiet
PYTEST_ARGS ?=
# pytest-xdist: one worker per core (at most 4), whole test files per worker (a module's
# shared setup runs once). `make test PYTEST_ARGS=-n0` runs in one process.
PYTEST_XDIST ?= -n auto --maxprocesses 4 --dist loadfile

.PHONY: help run test lint bench clean venv install install-dev stop-db

help:
	@echo "make run    start web, Celery workers and beat with demo data (Ctrl-C stops all)"
	@echo "make test   run the whole test suite"
	@echo "make lint   ruff check, ruff format --check, mypy, lint-imports (the layers)"
	@echo "make bench  run the benchmarks in tests/bench (ratios measured side by side)"
	@echo "make clean  stop the embedded database and remove .venv and .local"

$(PY):
	@py=$$(scripts/find-python) && echo "Creating $(VENV) with $$py" && "$$py" -m venv $(VENV)
	@$(PIP) install --upgrade pip

# Stamps: a second `make run` skips the install unless pyproject.toml changed.
$(VENV)/.installed-run: pyproject.toml | $(PY)
	@echo "Installing Release Portal into $(VENV)..."
	@$(PIP) install -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	@echo "Installing Release Portal with its test tools into $(VENV)..."
	@$(PIP) install -e '.[dev]'
	@touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-dev: $(VENV)/.installed-dev

run: install
	@scripts/ensure-sandbox
	@$(PY) manage.py migrate --noinput -v 0
	@$(PY) manage.py demo_load
	@exec $(PY) manage.py portal_run

test: install-dev
	@scripts/ensure-sandbox
	$(PY) -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports

bench: install-dev
	$(PY) tests/bench/run.py

# The embedded server of PORTAL_DATA_DIR (as `make run` used it; .local by default).
stop-db:
	@if [ -x $(PY) ]; then $(PY) -c "import sys; from pathlib import Path; from release_portal import embedded; pg = Path(sys.argv[1]) / 'pg'; embedded.stop(pg) and print(f'Stopped the embedded PostgreSQL in {pg}.')" "$${PORTAL_DATA_DIR:-.local}"; fi

clean: stop-db
	rm -rf $(VENV) .local .pytest_cache .mypy_cache .ruff_cache *.egg-info
