# The front door: `make demo` and `make test` set up everything they need, idempotently.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO_DURATION ?= 150
RUNS ?= 10
# A real Alertmanager for the forwarder's integration tests and promtool, built once into
# the cache the Kafka jars use (SKIP_ALERTMANAGER=1: the tests that need them skip).
CACHE := $(or $(RACKWATCH_KAFKA_CACHE),$(HOME)/.cache/rackwatch)
ALERTMANAGER_VERSION := 0.35.0
ALERTMANAGER := $(CACHE)/alertmanager-$(ALERTMANAGER_VERSION)/alertmanager
# promtool checks the Prometheus rules and the metrics exposition (tests skip without it).
PROMETHEUS_MODULE := v0.316.0
PROMTOOL := $(CACHE)/promtool-$(PROMETHEUS_MODULE)/promtool

NPM ?= npm
# The console's chart library, installed from the npm registry (console/package-lock.json)
# and copied into the package's static files; never committed.
CONSOLE_VENDOR := console/static/vendor/uPlot.iife.min.js

.PHONY: setup tools demo test lint typecheck unit integration bench quality soak reliability \
	clean console-assets browser console-test

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP) $(CONSOLE_VENDOR)
	$(BIN)/rackwatch broker fetch

# Without npm (and no way to install it) the console still runs, without its charts; the
# browser tests then skip and say why.
$(CONSOLE_VENDOR): console/package.json console/package-lock.json
	@if ! command -v $(NPM) >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; fi
	@if command -v $(NPM) >/dev/null; then \
	  cd console && $(NPM) ci --no-audit --no-fund --loglevel=error && cd .. && \
	  mkdir -p console/static/vendor && \
	  cp console/node_modules/uplot/dist/uPlot.iife.min.js console/node_modules/uplot/dist/uPlot.min.css \
	    console/node_modules/uplot/LICENSE console/static/vendor/ && touch $@; \
	else echo "npm not found: the console will run without charts (apt-get install npm, then make setup)"; fi

console-assets: $(CONSOLE_VENDOR)

# Debian's Chromium and its driver, for the console's browser tests (tests/browser). Installed
# when absent and this is root with apt-get; otherwise those tests skip and say why.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium chromium-driver >/dev/null || \
	  echo "could not install chromium and chromium-driver: the browser tests will skip"; \
	else echo "chromium or chromedriver is missing (apt-get install chromium chromium-driver):" \
	  "the browser tests will skip"; fi

$(ALERTMANAGER):
	.ci/build-alertmanager.sh $(ALERTMANAGER_VERSION) $@

$(PROMTOOL):
	@echo "building promtool ($(PROMETHEUS_MODULE)) from the Go module proxy (once; minutes)" >&2
	GOBIN=$(dir $@) go install github.com/prometheus/prometheus/cmd/promtool@$(PROMETHEUS_MODULE)

ifeq ($(SKIP_ALERTMANAGER),1)
tools:
else
tools: $(ALERTMANAGER) $(PROMTOOL)
endif

demo: setup
	$(BIN)/rackwatch demo --duration $(DEMO_DURATION)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -m "not integration and not browser"

integration: setup tools
	$(BIN)/pytest -m integration

# The console's own tests: unit, and in a headless browser (the live one starts a broker).
console-test: setup browser
	$(BIN)/pytest tests/unit/console tests/browser

test: setup browser tools lint typecheck
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
	rm -rf $(VENV) .rackwatch .mypy_cache .ruff_cache .pytest_cache console/node_modules \
	  console/static/vendor
