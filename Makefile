# One command sets up and runs the main job; one sets up and runs the tests.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench clean

$(BIN)/activate: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/activate

setup: $(BIN)/activate

demo: setup
	$(BIN)/atomnet demo

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

test: setup lint
	$(BIN)/pytest -q

bench: setup
	@for f in benchmarks/bench_*.py; do echo "== $$f"; (cd benchmarks && ../$(BIN)/python $$(basename $$f)) || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
