# The two commands of the README:
#   make run    set up, migrate a SQLite file, load Ternate + demo data, print demo logins, serve :8000
#   make test   set up and run the whole suite (ruff, mypy, pytest on SQLite and PostgreSQL)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_FAMILIES ?= 500

.PHONY: run test install lint typecheck pytest test-browser openapi bench bench-connectivity bench-channels bench-dedup bench-load bench-reports clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("Sigap needs Python 3.11 or newer (found " + sys.version.split()[0] + ")") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/sigap migrate
	$(BIN)/sigap seed --demo $(DEMO_FAMILIES)
	$(BIN)/sigap users demo
	$(BIN)/sigap serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy app sync_protocol bench

pytest: install
	$(BIN)/pytest

test: lint typecheck pytest

# the console in headless Chromium (/usr/bin/chromium), screenshots under $SIGAP_ARTEFACTS
test-browser: install
	$(BIN)/pytest -s tests/console/test_browser.py

openapi: install
	$(BIN)/sigap openapi

bench: install
	$(BIN)/python bench/bench_registry.py
	$(BIN)/python bench/bench_sync.py

bench-connectivity: install
	$(BIN)/python bench/bench_connectivity.py

bench-channels: install
	$(BIN)/python bench/bench_channels.py

bench-dedup: install
	$(BIN)/python bench/bench_reconcile_db.py

# the load test (PostgreSQL, 2 uvicorn workers, 60 s), then its saturation ramp; docs/benchmarks.md
bench-load: install
	$(BIN)/python bench/bench_load.py
	$(BIN)/python bench/bench_load.py --ramp

bench-reports: install
	$(BIN)/python bench/bench_reports.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
