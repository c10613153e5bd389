# Keystead: the two set-up commands are `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= data
STAMP := $(VENV)/.installed

.PHONY: run test setup lint typecheck unit generate bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The PKCS#11 library embeds the venv's Python: build it with that interpreter so its packages are found.
SHIM := c_shim/_build/libkeystead_pkcs11.so
$(SHIM): $(STAMP) c_shim/build.py c_shim/functions.py c_shim/shim.c c_shim/pkcs11_decls.h
	$(BIN)/python -m c_shim.build

setup: $(STAMP) $(SHIM)

run: setup
	$(BIN)/keystead serve --data-dir $(DATA_DIR)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest

test: lint typecheck unit

generate: setup
	$(BIN)/python -m kms_backend.kmip._codegen
	$(BIN)/ruff format kms_backend/kmip/_registry_data.py kms_backend/kmip/_schema_data.py 2>/dev/null || true

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
