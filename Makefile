# Switchyard: `make run` (demo: simulated backends + proxy on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

# litellm must never fetch its price map from the internet.
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: install run test lint unit clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python scripts/demo.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: install
	$(BIN)/pytest

test: lint unit

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
