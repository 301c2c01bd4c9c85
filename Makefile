# The two commands a newcomer runs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench crash soak clean prism

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gitopsd validate manifests-example/
	$(BIN)/gitopsd demo --manifests manifests-example

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy --strict gitopsd

# Stoplight Prism serves the Atlas mock spec to tests/contract. Installed locally when npm is
# available; without npm those tests skip, and fail under CI=true (CI must run them).
PRISM_VERSION ?= ~5.14
PRISM_DIR     := .cache/prism
PRISM         := $(PRISM_DIR)/node_modules/.bin/prism
NPM           := $(shell command -v npm 2>/dev/null)

$(PRISM):
	npm install --prefix $(PRISM_DIR) --no-audit --no-fund '@stoplight/prism-cli@$(PRISM_VERSION)'

prism: $(PRISM)

unit: $(STAMP) $(if $(NPM),$(PRISM))
	@$(if $(NPM),true,echo "npm not found: Prism contract tests will skip (and fail with CI=true)")
	$(BIN)/pytest

test: lint typecheck unit

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
