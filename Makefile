# The two commands of the README: `make demo` runs the main job on the embedded defaults
# (local sqlite registry, embedded engine); `make test` runs the test suite. Both create
# .venv and install mlgate with its test extra on first use.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: demo example test lint schemas bench

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/mlgate demo

example: $(BIN)/.installed
	$(BIN)/mlgate check --input examples/gate_input_blocked.json || test $$? -eq 1

test: $(BIN)/.installed
	$(BIN)/ruff check plugin tests benchmarks
	$(BIN)/pytest

schemas: $(BIN)/.installed
	$(BIN)/python -m mlgate.schemas

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/bench_policy.py
