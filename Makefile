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

.PHONY: run test install lint typecheck pytest test-browser openapi bench bench-connectivity bench-channels bench-dedup bench-load bench-reports bench-pii bench-auth clean lock

# Every dependency, pip and setuptools included, comes from requirements-dev.lock with its
# hashes checked (the venv's own pip installs the locked pip along with the rest); then the
# project itself, editable, built by the locked setuptools and adding no dependency of its own;
# pip check fails if pyproject.toml asks for something the lock lacks (run make lock).
$(STAMP): pyproject.toml requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit("Sigap needs Python 3.11 or newer (found " + sys.version.split()[0] + ")") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
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

# The suite as two processes at once, one per core: the SQLite half (and every test that
# needs no database) in the foreground, the PostgreSQL half in the background, its report
# printed when it ends (var/pytest-postgresql.log). Fails if either half fails. Only the
# PostgreSQL half applies SIGAP_REQUIRE_POSTGRES. PYTEST_ARGS go to both halves.
pytest: install
	@mkdir -p var
	@$(BIN)/pytest -k "postgresql" $(PYTEST_ARGS) > var/pytest-postgresql.log 2>&1 & pg=$$!; \
	SIGAP_REQUIRE_POSTGRES=0 $(BIN)/pytest -k "not postgresql" $(PYTEST_ARGS); sqlite=$$?; \
	wait $$pg; postgres=$$?; \
	echo; echo "======== the PostgreSQL half (var/pytest-postgresql.log) ========"; \
	cat var/pytest-postgresql.log; \
	echo "SQLite half: exit $$sqlite; PostgreSQL half: exit $$postgres"; \
	test $$sqlite -eq 0 && test $$postgres -eq 0

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

# sealing NIK/KK at rest: push and dedup with it on vs off, same run (docs/benchmarks.md)
bench-pii: install
	$(BIN)/python bench/bench_pii.py

bench-reports: install
	$(BIN)/python bench/bench_reports.py

# what a console logout costs every request: the revoked-token lookup vs the user lookup
bench-auth: install
	$(BIN)/python bench/bench_auth.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# Regenerate requirements.lock (the Docker image: runtime dependencies) and
# requirements-dev.lock (make install: runtime + the dev extra) from pyproject.toml and
# requirements-tools.in (pip, setuptools). Needs network to PyPI (several minutes: every
# file of every pinned release is fetched to hash it). Versions already in the lock files
# are kept; upgrade deliberately with LOCK_ARGS, e.g. make lock LOCK_ARGS='-P fastapi'
# (one package) or LOCK_ARGS=--upgrade (everything). pip-tools lives in its own venv, and
# resolves against PyPI alone: a local pip config (find-links, extra indexes) must not
# leak into the hashes.
LOCK_VENV ?= $(VENV)/.pip-tools
PIP_TOOLS_VERSION ?= 7.6.2
LOCK_ARGS ?=
PIP_COMPILE = env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_CONSTRAINT \
	PIP_CONFIG_FILE=/dev/null CUSTOM_COMPILE_COMMAND='make lock' \
	$(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links $(LOCK_ARGS)

lock:
	@test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) \
		&& $(LOCK_VENV)/bin/python -m pip install --quiet pip-tools==$(PIP_TOOLS_VERSION); }
	$(PIP_COMPILE) --extra dev -o requirements-dev.lock pyproject.toml requirements-tools.in
	$(PIP_COMPILE) -o requirements.lock pyproject.toml requirements-tools.in
