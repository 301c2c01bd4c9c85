# The two commands a newcomer runs: `make demo` and `make test`. Both set up .venv first, from
# requirements.lock: exact versions, hashes required (docs/development.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock

.PHONY: demo test lint typecheck unit bench crash soak clean prism faketime lock lock-upgrade lock-check

# Fails with one line when pyproject.toml's dependencies changed and the lock was not remade;
# otherwise makes .venv exactly the lock (the installers' output goes to .cache/install.log).
$(STAMP): pyproject.toml $(LOCK) scripts/lock.py
	@$(PYTHON) scripts/lock.py install $(VENV)
	@touch $(STAMP)

lock-check:
	@$(PYTHON) scripts/lock.py check

# Remake the lock from pyproject.toml, keeping every pin that still fits (after adding,
# removing or re-ranging a dependency); lock-upgrade moves every pin to the newest release.
lock:
	@$(PYTHON) scripts/lock.py compile

lock-upgrade:
	@$(PYTHON) scripts/lock.py compile --upgrade

demo: $(STAMP)
	@$(BIN)/gitopsd validate manifests-example/
	@$(BIN)/gitopsd demo --manifests manifests-example

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy --strict gitopsd scripts/lock.py scripts/emulator_schemas.py

# Stoplight Prism serves the Atlas mock spec to tests/contract, installed with `npm ci` from its
# own lock (scripts/prism/package-lock.json: exact versions, integrity hashes, no install
# scripts). Without npm those tests skip, and fail under CI=true (CI must run them).
PRISM_DIR     := .cache/prism
PRISM         := $(PRISM_DIR)/node_modules/.bin/prism
PRISM_LOG     := .cache/prism-install.log
NPM           := $(shell command -v npm 2>/dev/null)

$(PRISM): scripts/prism/package.json scripts/prism/package-lock.json
	@echo "gitopsd: installing Stoplight Prism from scripts/prism/package-lock.json into $(PRISM_DIR)"
	@mkdir -p $(PRISM_DIR)
	@cp scripts/prism/package.json scripts/prism/package-lock.json $(PRISM_DIR)/
	@cd $(PRISM_DIR) && npm ci --no-audit --no-fund --ignore-scripts > $(CURDIR)/$(PRISM_LOG) 2>&1 \
	  || { echo "gitopsd: npm ci failed; its output is in $(PRISM_LOG)"; exit 1; }
	@touch $(PRISM)

prism: $(PRISM)

# Debian's libfaketime steps the daemon's wall clock in tests/integration/test_daemon_attacks.py
# (LD_PRELOAD on that subprocess only; the machine's clock is never touched). Installed with
# apt-get when it is missing and make runs as root; otherwise that test skips (and fails under
# CI=true). apt-get's output goes to .cache/faketime-install.log.
FAKETIME_LIB  := $(firstword $(wildcard /usr/lib/*/faketime/libfaketimeMT.so.1))
FAKETIME_LOG  := .cache/faketime-install.log
APT_GET       := $(shell command -v apt-get 2>/dev/null)

faketime:
	@if [ -n "$(FAKETIME_LIB)" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || [ -z "$(APT_GET)" ]; then \
	  echo "libfaketime not found (apt-get install faketime, as root): the wall-clock test will skip (and fail with CI=true)"; \
	  exit 0; \
	fi; \
	echo "gitopsd: installing faketime (libfaketime) with apt-get"; mkdir -p .cache; \
	{ apt-get install -y faketime || { apt-get update && apt-get install -y faketime; }; } \
	  > $(FAKETIME_LOG) 2>&1 \
	  || { echo "gitopsd: apt-get install faketime failed; its output is in $(FAKETIME_LOG)"; exit 1; }

unit: $(STAMP) $(if $(NPM),$(PRISM)) faketime
	@$(if $(NPM),true,echo "npm not found: Prism contract tests will skip (and fail with CI=true)")
	$(BIN)/pytest

test: lock-check lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/manifests_bench.py
	$(BIN)/python bench/atlas_bench.py
	$(BIN)/python bench/reconcile_bench.py
	$(BIN)/python bench/scale_bench.py --quick

crash: $(STAMP)
	$(BIN)/python bench/crash.py

soak: $(STAMP)
	$(BIN)/python bench/soak.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build dist
