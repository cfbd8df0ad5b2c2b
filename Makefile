# s3deep — `make` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CODE := lib stages tests bench demo

.DEFAULT_GOAL := help
.PHONY: help install tools test quick chaos lint demo bench bench-full clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(STAMP) tools ## Create .venv and install s3deep (editable) with the dev tools

# GNU parallel: the reference runner of --shard workers (README "Scaling out"; an e2e test).
tools: ## Install GNU parallel with apt-get if it is missing (as root)
	@command -v parallel >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing GNU parallel with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq parallel \
	      >/dev/null; \
	  else \
	    echo "warning: GNU parallel is missing and this is not root with apt-get: install it" \
	      "(apt-get install parallel, brew install parallel); the sharding e2e test needs it"; \
	  fi; }

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,inventory]'
	touch $(STAMP)

# Test processes in parallel (pytest-xdist); each has its own moto server. Measured on 2 cores
# with --dist load: 2 workers 7 min 48 s, 3 workers 7 min 44 s, 4 workers 8 min 30 s; 2 use
# the least CPU. worksteal: a worker that runs out of tests takes some of the other's, so
# the suite does not end on one worker's queue of slow chaos tests (2 workers: 6 min 17 s;
# README "Development"). It needs tests that do not depend on their order: no mock_aws.
WORKERS ?= 2
XDIST := -n $(WORKERS) --dist worksteal

test: install ## Run the test suite (unit, CLI, end-to-end and chaos, against a local moto server)
	$(BIN)/pytest -q $(XDIST)

# quick: 709 unit tests in 27 s with 2 workers on the quiet 2-core machine, 43 s in one.
quick: install ## Unit and CliRunner tests only: the edit loop (no subprocess stages)
	$(BIN)/pytest -q $(XDIST) tests/unit

chaos: install ## Only the chaos tests (kills, signals, faults, disk, bad input); prints the figures
	$(BIN)/pytest -q $(XDIST) -m chaos

lint: install ## ruff check, ruff format --check, mypy on lib and stages
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy lib stages

demo: install ## Start a local S3 server, seed sample data, run the pipeline, show the result
	$(BIN)/python demo/demo.py

bench: install ## Benchmark suite (~45 min): list, check, delete at 100k, loopback and +50 ms; objects
	$(BIN)/python -m bench.run --suite default $(BENCH_ARGS)

bench-full: install ## The suite with 1M objects, slow peers, copy and read (hours)
	$(BIN)/python -m bench.run --suite full $(BENCH_ARGS)

clean: ## Remove the venv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo/out bench/work
