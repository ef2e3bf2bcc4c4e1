# seqattn: two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= runs/demo

.PHONY: demo test test-slow test-gpu test-all lint bench docs install clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing seqattn and its dependencies (torch CPU, pinned) into $(VENV): a few minutes the first time; pip stays quiet meanwhile"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# The main job on its built-in default (quick mode, no data needed).
demo: $(STAMP)
	$(VENV)/bin/seqattn demo --out $(OUT)

# Default markers only (not slow, not gpu): a few minutes on two CPU cores.
test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

# Parity on a CUDA device (tests/gpu; skipped without one). scripts/device_check.sh runs it
# with the --device cuda benchmarks as one prepared script on a lent GPU machine.
test-gpu: $(STAMP)
	$(PY) -m pytest -q -m gpu tests/gpu

test-all: $(STAMP)
	$(PY) -m pytest -q -m "slow or not slow"

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

# The whole benchmark suite (`seqattn bench --help`); JSON per benchmark under runs/bench/.
bench: $(STAMP)
	@mkdir -p runs/bench
	$(VENV)/bin/seqattn bench all --json runs/bench/bench.json

# The docs site (mkdocs + Material, API reference from the docstrings) into site/; strict: a
# broken link, anchor or reference fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) runs .pytest_cache site
