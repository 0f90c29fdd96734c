# Switchyard: `make run` (demo: simulated backends + proxy on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

# litellm must never fetch its price map from the internet.
export LITELLM_LOCAL_MODEL_COST_MAP := True

NODE_SDK := tests/node/node_modules/openai/package.json

.PHONY: install run test lint unit clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Training libraries: the tests train and evaluate small models too, so `make test` installs them.
TRAIN_STAMP := $(VENV)/.installed-train
$(TRAIN_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,train]'
	touch $(TRAIN_STAMP)

run: install
	$(BIN)/switchyard demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The JavaScript SDK check runs where Node.js is installed; its test skips, saying why, elsewhere.
$(NODE_SDK): tests/node/package-lock.json
	if command -v npm >/dev/null; then npm ci --prefix tests/node --no-audit --no-fund --silent; fi

unit: install $(TRAIN_STAMP) $(NODE_SDK)
	$(BIN)/pytest

test: lint unit

# The side-by-side benchmark (minutes; not part of `make test`): the proxy against going direct and against
# litellm's own proxy, which it installs into var/bench/litellm-venv on first use; then capacity, open loop.
bench: install
	mkdir -p var
	$(BIN)/python -m scripts.bench --litellm --json var/bench.json
	$(BIN)/python -m scripts.bench --capacity --litellm --json var/capacity.json

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache tests/node/node_modules

# Training and evaluation need the [train] extra; the data stays outside the repository.
DATA_DIR ?= ../shared/data
.PHONY: models evaluate

# The shipped models: trained on the training part of every *_long.csv.gz under DATA_DIR, on both cores of the
# project's machine (a bag of three classifiers: ~6 minutes with two threads).
models: $(TRAIN_STAMP)
	$(BIN)/switchyard train --data-dir $(DATA_DIR) --out models --threads 2

# Held-out replay of the shipped models against the baselines, every source of DATA_DIR (a source's candidates:
# its models that answered 90% of its prompts): var/evaluation.json and .png.
evaluate: $(TRAIN_STAMP)
	mkdir -p var
	$(BIN)/switchyard evaluate --data-dir $(DATA_DIR) --models models --json var/evaluation.json --plot var/evaluation.png
