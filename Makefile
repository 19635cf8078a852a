# consim: `make demo` runs the quickstart scenario, `make test` runs the linter and the tests,
# `make docs` regenerates every number the README quotes (scenarios, sweeps, benchmarks).
# Both create .venv on first use and reuse it; the install is redone when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP     := $(VENV)/.installed-dev

.PHONY: demo test test-setup test-pythons lint bench docs docs-check clean

demo: $(RUNTIME_STAMP)
	$(BIN)/consim run scenarios/quickstart.yaml --out results/quickstart/demo
	$(BIN)/consim report results/quickstart/demo

test: $(DEV_STAMP) test-setup
	$(BIN)/python benchmarks/pythons.py --setup
	$(BIN)/ruff check sim tests benchmarks
	$(BIN)/python -m pytest -n auto  # one worker per core: the suite is CPU-bound and single-threaded

# The report's browser test (tests/test_report_browser.py) renders report.html in headless
# Chromium from Debian's packages. Installed here when missing and apt-get can be used (as root,
# or through passwordless sudo); otherwise a line says so and that test is skipped, naming why.
CHROMIUM_PACKAGES := chromium chromium-driver
test-setup:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then echo "test-setup: no apt-get; install $(CHROMIUM_PACKAGES) yourself or the browser test is skipped"; \
	else \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi; \
		if [ "$$SUDO" = none ]; then echo "test-setup: not root and no passwordless sudo; install $(CHROMIUM_PACKAGES) or the browser test is skipped"; \
		else echo "test-setup: installing $(CHROMIUM_PACKAGES) (a few minutes, once)"; \
			( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(CHROMIUM_PACKAGES) >/dev/null ) \
			|| echo "test-setup: apt-get could not install $(CHROMIUM_PACKAGES); the browser test is skipped"; \
		fi; \
	fi

# The other supported Pythons (pyproject's classifiers: 3.11, 3.12, 3.13): for each one present
# (`python3.X` on the PATH, or pyenv's), `make test` makes a venv .venv-3.X once (again when
# pyproject.toml changes; about 30 s each) and tests/test_pythons.py checks a sample of journals
# under it (every mechanism once, and a fleet), saying why when a Python is absent. This target
# checks every shipped scenario's journal under each (about 40 s more per Python).
test-pythons: $(RUNTIME_STAMP)
	$(BIN)/python benchmarks/pythons.py --test

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

# Every benchmark of issue 13 (benchmarks/docs_slow.py's BENCHMARKS, which the README's
# `benchmarks` region renders from one run), then the same per-message ones under each Python.
bench: $(RUNTIME_STAMP)
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/pbft64.py
	$(BIN)/python benchmarks/pbft_scaling.py
	$(BIN)/python benchmarks/floor.py --mechanism raft
	$(BIN)/python benchmarks/floor.py --mechanism pbft
	$(BIN)/python benchmarks/floor.py --mechanism pbft --nodes 4
	$(BIN)/python benchmarks/floor.py --mechanism pbft --nodes 100
	$(BIN)/python benchmarks/gossip10k.py
	$(BIN)/python benchmarks/gossip_scale.py
	$(BIN)/python benchmarks/gossip_scale.py --nodes 1000000
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/pythons.py

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
	rm -rf $(VENV) $(VENV)-3.* build *.egg-info .pytest_cache .ruff_cache
