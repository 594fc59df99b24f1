# The two commands of the README: `make demo` runs the main job on the embedded defaults
# (local sqlite registry, embedded engine); `make test` runs the test suite. Each creates
# .venv on first use: the demo installs mlgate and its runtime dependencies only (MLflow
# is most of it), the tests add the test extra (pytest, database drivers, linters, mypy).
# `make test` runs ruff, then mypy --strict on plugin/ (pyproject.toml [tool.mypy]), then
# pytest.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
# OPA's own Go library for the tests (every Rego test, scenario and random input decided
# by OPA too). Its metadata says Requires-Python >=3.14, but the wheels are not tied to a
# Python version: a separate, pinned install that ignores that field; no extra can.
OPA_GOLIB_VERSION := 0.4.4
OPA_GOLIB := opa-golib-python-bindings==$(OPA_GOLIB_VERSION)

.PHONY: demo example test lint schemas bench opa-golib

# mlgate with its runtime dependencies: what `mlgate demo` needs, nothing more.
$(BIN)/.installed-demo: pyproject.toml
	@echo "make: first run: creating $(VENV) and installing mlgate with MLflow (about 900 MB, mostly"
	@echo "make: MLflow's own dependencies: 2-5 minutes). Later runs start at once."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install -e .
	touch $@

# The same plus the test extra, for the suite and the tools.
$(BIN)/.installed: $(BIN)/.installed-demo
	@echo "make: adding the test extra to $(VENV) (pytest, database drivers, linters; ~1 minute)"
	$(BIN)/pip install -e '.[test]'
	touch $@

$(BIN)/.opa-golib-$(OPA_GOLIB_VERSION): $(BIN)/.installed
	$(BIN)/pip install --quiet --ignore-requires-python '$(OPA_GOLIB)'
	touch '$@'

opa-golib: $(BIN)/.opa-golib-$(OPA_GOLIB_VERSION)

demo: $(BIN)/.installed-demo
	$(BIN)/mlgate demo

example: $(BIN)/.installed-demo
	$(BIN)/mlgate check --input examples/gate_input_blocked.json || test $$? -eq 1

test: $(BIN)/.installed opa-golib
	$(BIN)/ruff check plugin tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest

schemas: $(BIN)/.installed-demo
	$(BIN)/python -m mlgate.schemas

bench: $(BIN)/.installed opa-golib
	$(BIN)/python benchmarks/bench_policy.py
