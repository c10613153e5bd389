# Keystead: the two set-up commands are `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= data
STAMP := $(VENV)/.installed
# Every direct and transitive dependency (and pip, setuptools, wheel) at an exact version with its hashes, for
# Python 3.11. pyproject.toml keeps the supported ranges; `make lock` re-resolves them on purpose.
LOCK := requirements.lock
# The build tools of the editable install are locked too, so nothing is fetched unpinned.
LOCK_EXTRAS := pip 'setuptools>=68' wheel

.PHONY: run test setup lint typecheck unit ui ui-test generate bench clean lock fuzz

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Re-resolve the lock from pyproject.toml's ranges (newest releases that fit them), then reinstall from it.
lock:
	test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet uv; }
	printf '%s\n' $(LOCK_EXTRAS) | $(BIN)/uv pip compile pyproject.toml - --extra dev --generate-hashes \
		--universal --python-version 3.11 --quiet --output-file $(LOCK) \
		--custom-compile-command 'make lock'
	rm -f $(STAMP)
	$(MAKE) setup

# The PKCS#11 library embeds the venv's Python: build it with that interpreter so its packages are found.
SHIM := c_shim/_build/libkeystead_pkcs11.so
$(SHIM): $(STAMP) c_shim/build.py c_shim/functions.py c_shim/shim.c c_shim/pkcs11_decls.h c_shim/forward.py \
		c_shim/forward.c c_shim/marshal.c $(wildcard provider/mechanisms.py provider/mechanisms/*.py)
	$(BIN)/python -m c_shim.build

# The web UI (served by `keystead serve` at /ui): built here with Node.js and npm from the committed lock file, so
# that no Node is needed at run time. The built files (dist/) are not committed.
UI_DIR := kms_backend/ui/web
UI_MODULES := $(UI_DIR)/node_modules/.package-lock.json
UI := $(UI_DIR)/dist/index.html
UI_SOURCES := $(UI_DIR)/index.html $(UI_DIR)/vite.config.ts $(UI_DIR)/tsconfig.json \
	$(wildcard $(UI_DIR)/src/*.ts $(UI_DIR)/src/*.tsx $(UI_DIR)/src/*.css $(UI_DIR)/src/*/*.tsx $(UI_DIR)/public/*)
NPM := npm --prefix $(UI_DIR) --no-audit --no-fund --loglevel=error

$(UI_MODULES): $(UI_DIR)/package.json $(UI_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "The web UI needs Node.js 20+ and npm to build (apt-get install nodejs npm)"; exit 1; }
	$(NPM) ci
	touch $@

$(UI): $(UI_MODULES) $(UI_SOURCES)
	$(NPM) run build

ui: $(UI)

ui-test: $(UI_MODULES)
	$(NPM) test

setup: $(STAMP) $(SHIM) $(UI)

run: setup
	$(BIN)/keystead serve --data-dir $(DATA_DIR)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest

test: lint typecheck ui-test unit

generate: setup
	$(BIN)/python -m kms_backend.kmip._codegen
	$(BIN)/ruff format kms_backend/kmip/_registry_data.py kms_backend/kmip/_schema_data.py 2>/dev/null || true

bench: setup
	$(BIN)/python -m bench

# Fuzzing: atheris (coverage-guided) over every target for FUZZ_SECONDS each, then the Hypothesis harnesses with
# FUZZ_EXAMPLES examples each. Inputs found are copied to fuzz/regressions/ (replayed by make test). CI runs a
# short pass; a long one is e.g. `make fuzz FUZZ_SECONDS=3600`.
FUZZ_SECONDS ?= 60
FUZZ_EXAMPLES ?= 5000
fuzz: setup
	$(BIN)/python -m fuzz --seconds $(FUZZ_SECONDS)
	KEYSTEAD_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/fuzz -q

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache .fuzz $(UI_DIR)/node_modules $(UI_DIR)/dist
