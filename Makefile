# The front door: `make demo` and `make test` set up everything they need, idempotently.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO_DURATION ?= 150
RUNS ?= 10

.PHONY: setup demo test lint typecheck unit integration bench soak reliability clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)
	$(BIN)/rackwatch broker fetch

demo: setup
	$(BIN)/rackwatch demo --duration $(DEMO_DURATION)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -m "not integration"

integration: setup
	$(BIN)/pytest -m integration

test: setup lint typecheck
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m benchmarks.run

# The failure tests and the multi-worker equivalence test, RUNS times in a row (each run
# starts its own broker); stops at the first failure and says which run it was.
reliability: setup
	@for i in $$(seq 1 $(RUNS)); do \
	  start=$$(date +%s); \
	  $(BIN)/pytest -q -p no:cacheprovider tests/integration/test_failures.py \
	    tests/integration/test_failures_broker.py tests/integration/test_failures_malformed.py \
	    tests/integration/test_failures_store.py tests/integration/test_scaling.py \
	    | tail -1 | sed "s/^/run $$i of $(RUNS): /" ; \
	  test $${PIPESTATUS[0]} -eq 0 || { echo "run $$i failed"; exit 1; }; \
	  echo "run $$i took $$(( $$(date +%s) - start )) s"; \
	done

clean:
	rm -rf $(VENV) .rackwatch .mypy_cache .ruff_cache .pytest_cache
