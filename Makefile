# The two commands of the README: `make demo` runs the main job on the embedded defaults
# (local sqlite registry, embedded engine); `make test` runs the test suite. Both create
# .venv and install mlgate with its test extra on first use.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
# OPA's own Go library for the tests (every Rego test, scenario and random input decided
# by OPA too). Its metadata says Requires-Python >=3.14, but the wheels are not tied to a
# Python version: a separate, pinned install that ignores that field; no extra can.
OPA_GOLIB_VERSION := 0.4.4
OPA_GOLIB := opa-golib-python-bindings==$(OPA_GOLIB_VERSION)

.PHONY: demo example test lint schemas bench opa-golib

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(BIN)/.opa-golib-$(OPA_GOLIB_VERSION): $(BIN)/.installed
	$(BIN)/pip install --quiet --ignore-requires-python '$(OPA_GOLIB)'
	touch '$@'

opa-golib: $(BIN)/.opa-golib-$(OPA_GOLIB_VERSION)

demo: $(BIN)/.installed
	$(BIN)/mlgate demo

example: $(BIN)/.installed
	$(BIN)/mlgate check --input examples/gate_input_blocked.json || test $$? -eq 1

test: $(BIN)/.installed opa-golib
	$(BIN)/ruff check plugin tests benchmarks
	$(BIN)/pytest

schemas: $(BIN)/.installed
	$(BIN)/python -m mlgate.schemas

bench: $(BIN)/.installed opa-golib
	$(BIN)/python benchmarks/bench_policy.py
