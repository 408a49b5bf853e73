# One command sets up and runs the main job; one sets up and runs the tests.
#   make demo  — light install (numpy, matplotlib, tqdm + dev tools; no ML stack): cost + search on built-in defaults
#   make test  — full install (ML stack: torch 2.13.0 CPU, onnx2tf, tflite-micro; Debian dataset and browser),
#                then ruff, mypy and the whole test suite (32-50 minutes on a fresh machine with 2 cores)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the tests use: the fashion-mnist demo dataset, a headless browser for the HTML report test
APT_PACKAGES := dataset-fashion-mnist chromium gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm

.PHONY: setup setup-ml sysdeps demo test lint bench clean

$(VENV)/.stamp-base: pyproject.toml
	@echo "== installing atomnet and its dev tools (pytest, ruff, mypy) into $(VENV)"
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# requirements-ml.txt pins torch==2.13.0 (a plain "torch" would pull a multi-GB CUDA build)
$(VENV)/.stamp-ml: $(VENV)/.stamp-base requirements-ml.txt
	@echo "== installing the ML stack (torch 2.13.0 CPU, onnx2tf, tflite-micro; first time ~100 s, 3.5 GB)"
	$(BIN)/pip install -q -r requirements-ml.txt
	touch $@

setup: $(VENV)/.stamp-base

setup-ml: $(VENV)/.stamp-ml sysdeps

sysdeps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "== installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; \
	  else sudo apt-get update -q >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; fi; \
	fi

demo: setup
	$(BIN)/atomnet demo

lint: setup
	@echo "== ruff"
	$(BIN)/ruff check src tests benchmarks
	@echo "== mypy"
	$(BIN)/mypy

# pytest -q prints a dot per test and the percentage done; --durations lists the slowest tests at the end.
# Any failure, and also "no tests collected" (pytest's exit status 5), makes `make test` fail.
test: setup-ml lint
	@echo "== pytest"
	$(BIN)/pytest -q --durations=15

bench: setup-ml
	@for f in benchmarks/bench_*.py; do echo "== $$f"; (cd benchmarks && ../$(BIN)/python $$(basename $$f)) || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
