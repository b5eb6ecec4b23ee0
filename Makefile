# The front door: `make demo` and `make test` set up everything they need, idempotently.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO_DURATION ?= 150
RUNS ?= 10
# The deployment validators (compose-spec, kubeconform + schemas, kustomize, ansible-lint,
# an S3 endpoint for the backup drill), installed once into the cache the Kafka jars use.
CACHE := $(or $(RACKWATCH_KAFKA_CACHE),$(HOME)/.cache/rackwatch)
DEPLOY_TOOLS := $(CACHE)/deploy-tools

.PHONY: setup deploy-tools demo test lint typecheck unit integration bench quality soak reliability clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,embedded]'
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)
	$(BIN)/rackwatch broker fetch

# tests/unit/deploy skip, naming this target, when a validator is missing
deploy-tools:
	PYTHON=$(PYTHON) deploy/tools/install.sh $(DEPLOY_TOOLS)

demo: setup
	$(BIN)/rackwatch demo --duration $(DEMO_DURATION)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -m "not integration"

integration: setup
	$(BIN)/pytest -m integration

test: setup deploy-tools lint typecheck
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m benchmarks.run

# Every judgement figure (anomalies, log templates, fault lines, localisation) beside its
# published anchors, each chosen out of sample; needs ../shared/data (skips without it).
quality: $(STAMP)
	$(BIN)/python -m benchmarks.quality

# The failure tests and the multi-worker equivalence test, RUNS times in a row (each run
# starts its own broker); stops at the first failure and says which run and test it was.
# Each run's whole output is kept in .rackwatch/reliability/.
reliability: setup
	@mkdir -p .rackwatch/reliability
	@for i in $$(seq 1 $(RUNS)); do \
	  log=.rackwatch/reliability/run-$$i.log; start=$$(date +%s); \
	  $(BIN)/pytest -q -p no:cacheprovider -rfE tests/integration/test_failures.py \
	    tests/integration/test_failures_broker.py tests/integration/test_failures_malformed.py \
	    tests/integration/test_failures_store.py tests/integration/test_scaling.py \
	    > $$log 2>&1; rc=$$?; \
	  echo "run $$i of $(RUNS): $$(tail -1 $$log) ($$(( $$(date +%s) - start )) s)"; \
	  if [ $$rc -ne 0 ]; then grep -E "^(FAILED|ERROR) " $$log; echo "output: $$log"; exit 1; fi; \
	done

clean:
	rm -rf $(VENV) .rackwatch .mypy_cache .ruff_cache .pytest_cache
