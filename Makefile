# Switchyard: `make run` (demo: simulated backends + proxy on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

# litellm must never fetch its price map from the internet.
export LITELLM_LOCAL_MODEL_COST_MAP := True

NODE_SDK := tests/node/node_modules/openai/package.json

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

# The JavaScript SDK check runs where Node.js is installed; its test skips, saying why, elsewhere.
$(NODE_SDK): tests/node/package-lock.json
	if command -v npm >/dev/null; then npm ci --prefix tests/node --no-audit --no-fund --silent; fi

unit: install $(NODE_SDK)
	$(BIN)/pytest

test: lint unit

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache tests/node/node_modules
