# consim: `make demo` runs the quickstart scenario, `make test` runs the linter and the tests,
# `make docs` regenerates every number the README quotes (scenarios, sweeps, benchmarks).
# Both create .venv on first use and reuse it; the install is redone when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP     := $(VENV)/.installed-dev

.PHONY: demo test lint bench docs docs-check clean

demo: $(RUNTIME_STAMP)
	$(BIN)/consim run scenarios/quickstart.yaml

test: $(DEV_STAMP)
	$(BIN)/ruff check sim tests benchmarks
	$(BIN)/python -m pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check sim tests benchmarks
	$(BIN)/ruff format --check sim tests benchmarks

# Rewrites the README's generated regions from fresh runs (a few minutes; the benchmark regions
# want an idle machine). `make test` checks the cheap regions; `make docs-check` checks all the
# deterministic ones without writing.
docs: $(RUNTIME_STAMP)
	$(BIN)/python benchmarks/docs.py

docs-check: $(RUNTIME_STAMP)
	$(BIN)/python benchmarks/docs.py --check

bench: $(RUNTIME_STAMP)
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/pbft64.py
	$(BIN)/python benchmarks/pbft_scaling.py
	$(BIN)/python benchmarks/gossip10k.py
	$(BIN)/python benchmarks/gossip_scale.py
	$(BIN)/python benchmarks/startup.py

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The dev install includes the runtime one, so it refreshes both stamps.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(RUNTIME_STAMP) $@

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
