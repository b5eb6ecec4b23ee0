# The front door: `make demo` and `make test` set up everything they need, idempotently.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO_DURATION ?= 150

.PHONY: setup demo test lint typecheck unit integration bench soak clean

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

clean:
	rm -rf $(VENV) .rackwatch .mypy_cache .ruff_cache .pytest_cache
