.DEFAULT_GOAL := help
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
MAKEFLAGS += --no-print-directory
.DELETE_ON_ERROR:

VENV        := .venv
PY          := $(VENV)/bin/python
PIP         := $(VENV)/bin/pip
PY_STAMP    := $(VENV)/.installed
NODE_STAMP  := node_modules/.installed
HOST        ?= 127.0.0.1
PORT        ?= 9101
PYTEST_ARGS ?=
# Two test processes (the machines have 2 cores); whole files go to one process, so a module's real
# server starts once. `make test PYTEST_WORKERS=0` runs everything in one process.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)
SDK_DIR     ?= clients/python
# mypy checks the packages that exist (handlers/ may not be there yet).
MYPY_PATHS  := $(wildcard runplane handlers tests)

# The venv's tools come first (datamodel-codegen and openapi-python-client call `ruff` from PATH).
export PATH := $(abspath $(VENV))/bin:$(CURDIR)/node_modules/.bin:$(PATH)
export REDOCLY_TELEMETRY := off
export REDOCLY_SUPPRESS_UPDATE_NOTICE := true
export NO_UPDATE_NOTIFIER := 1

# The one generator command for generated/models.py (flags fixed; output is deterministic).
DATAMODEL_CODEGEN = $(VENV)/bin/datamodel-codegen --input openapi.yaml --input-file-type openapi \
	--output-model-type pydantic_v2.BaseModel --target-python-version 3.11 --use-annotated \
	--field-constraints --use-standard-collections --use-union-operator --use-schema-description \
	--use-double-quotes --disable-timestamp --openapi-scopes schemas --strict-nullable \
	--formatters ruff-format ruff-check
GENERATED_INIT := """Generated from openapi.yaml by `make generate`: do not edit by hand."""

# The one generator command for the Python SDK (clients/python): settings in clients/openapi-python-client.yaml
# (package runplane_client, version = the contract's info.version); any generator warning fails it. It formats
# with the ruff on PATH (the venv's), using the [tool.ruff] it writes into the SDK's own pyproject.toml.
SDK_CONFIG  := clients/openapi-python-client.yaml
OPENAPI_PYTHON_CLIENT = $(VENV)/bin/openapi-python-client generate --path openapi.yaml --config $(SDK_CONFIG) \
	--custom-template-path clients/templates \
	--meta setup --overwrite --fail-on-warning

# --- install -------------------------------------------------------------------------------------------

$(PY):
	@if command -v python3.11 >/dev/null 2>&1; then python3.11 -m venv $(VENV); else python3 -m venv $(VENV); fi

# Re-installs only when the lock (or pyproject.toml) is newer than the stamp.
$(PY_STAMP): requirements.lock pyproject.toml | $(PY)
	$(PIP) install --require-hashes --no-deps -r requirements.lock
	$(PIP) install --no-deps --no-build-isolation -e .
	$(PIP) install --no-deps --no-build-isolation -e $(SDK_DIR)
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: install  ## Create .venv and install the locked Python deps + project, and the node tooling (no-op when up to date)
install: $(PY_STAMP) $(NODE_STAMP)

.PHONY: install-browser  ## Install Debian's chromium (/usr/bin/chromium) for the browser tests when missing
install-browser:
	@if [ -x /usr/bin/chromium ]; then \
		exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update && apt-get install -y chromium; \
	else \
		echo "NOTE: /usr/bin/chromium is missing and cannot be installed here (needs root and apt-get):"; \
		echo "      install Debian's 'chromium' package, or the browser tests will be skipped/fail."; \
	fi

# --- code generation -----------------------------------------------------------------------------------

.PHONY: generate  ## Regenerate generated/models.py (datamodel-codegen) and the SDK in clients/python from openapi.yaml
generate: $(PY_STAMP)
	@mkdir -p generated
	$(DATAMODEL_CODEGEN) --output generated/models.py
	@printf '%s\n' '$(GENERATED_INIT)' > generated/__init__.py
	$(OPENAPI_PYTHON_CLIENT) --output-path $(SDK_DIR)

.PHONY: check-generated  ## Fail when generated/ or the SDK in clients/python is not what `make generate` produces
# The temp dir is inside the repo on purpose: datamodel-codegen runs ruff from the output's directory, so
# ruff must find the same pyproject.toml [tool.ruff] settings as for generated/.
check-generated: $(PY_STAMP)
	@tmp=$$(mktemp -d "$(CURDIR)/.check-generated.XXXXXX"); trap 'rm -rf "$$tmp"' EXIT; \
	$(DATAMODEL_CODEGEN) --output "$$tmp/models.py"; \
	printf '%s\n' '$(GENERATED_INIT)' > "$$tmp/__init__.py"; \
	stale=0; \
	for f in models.py __init__.py; do \
		if [ ! -f "generated/$$f" ]; then echo "generated/$$f is missing"; stale=1; \
		elif ! diff -u --label "generated/$$f" --label "generated/$$f (from openapi.yaml)" \
			"generated/$$f" "$$tmp/$$f"; then stale=1; fi; \
	done; \
	$(OPENAPI_PYTHON_CLIENT) --output-path "$$tmp/sdk" >/dev/null; \
	if ! diff -ru -x '*.egg-info' -x __pycache__ -x .ruff_cache -x build -x dist "$(SDK_DIR)" "$$tmp/sdk"; then stale=1; fi; \
	if [ $$stale -ne 0 ]; then echo "ERROR: generated/ or $(SDK_DIR) is stale: run make generate" >&2; exit 1; fi; \
	echo "generated/ and $(SDK_DIR) are up to date with openapi.yaml"

.PHONY: sdk  ## Regenerate only the Python SDK in clients/python (openapi-python-client)
sdk: $(PY_STAMP)
	$(OPENAPI_PYTHON_CLIENT) --output-path $(SDK_DIR)

# --- checks --------------------------------------------------------------------------------------------

.PHONY: lint  ## Lint: ruff check, ruff format --check, mypy, openapi-spec-validator, Redocly (runs all, then fails)
lint: $(PY_STAMP) $(NODE_STAMP)
	@failed=""; \
	run() { echo "+ $$*"; "$$@" || failed="$$failed\n  $$*"; }; \
	run $(VENV)/bin/ruff check .; \
	run $(VENV)/bin/ruff format --check .; \
	run $(VENV)/bin/mypy $(MYPY_PATHS); \
	run $(VENV)/bin/openapi-spec-validator openapi.yaml; \
	run npx --no-install redocly lint openapi.yaml; \
	if [ -n "$$failed" ]; then printf "lint FAILED:$$failed\n" >&2; exit 1; fi; \
	echo "lint passed"

.PHONY: test  ## Run the test suite (starts PostgreSQL/Redis when possible); pass options with PYTEST_ARGS="..."
test: install install-browser check-generated
	@service_env=$$(bash scripts/services.sh --env); eval "$$service_env"; \
	echo "+ $(PY) -m pytest $(PYTEST_PARALLEL) --durations=15 $(PYTEST_ARGS)"; \
	$(PY) -m pytest $(PYTEST_PARALLEL) --durations=15 $(PYTEST_ARGS)

.PHONY: all  ## What CI runs: lint + test
all: lint test

# --- run -----------------------------------------------------------------------------------------------

.PHONY: run  ## Serve the embedded default (SQLite under ./var/, local worker) on HOST:PORT (127.0.0.1:9101)
run: install
	$(VENV)/bin/runplane up --host $(HOST) --port $(PORT)

.PHONY: bench  ## Run the benchmarks (bench/run_all.py)
bench: install
	$(PY) bench/run_all.py

# --- housekeeping --------------------------------------------------------------------------------------

.PHONY: clean  ## Remove caches, build artefacts, test artefacts and var/ (keeps .venv and node_modules)
clean:
	rm -rf .pytest_cache .ruff_cache .mypy_cache .hypothesis .coverage .coverage.* htmlcov \
		build dist *.egg-info var test-artifacts
	find . -path ./.venv -prune -o -path ./node_modules -prune -o -path ./.git -prune -o \
		-type d -name __pycache__ -exec rm -rf {} +

.PHONY: distclean  ## clean, and remove .venv and node_modules too
distclean: clean
	rm -rf $(VENV) node_modules

.PHONY: help  ## Show this help (every target with its comment)
help:
	@echo "usage: make TARGET [HOST=127.0.0.1] [PORT=9101] [PYTEST_ARGS='...']"
	@echo
	@grep -E '^\.PHONY: [a-zA-Z_-]+ +## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = "^\\.PHONY: | +## "}; {printf "  %-17s %s\n", $$2, $$3}'
