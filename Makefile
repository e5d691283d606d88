# The two commands: `make demo` (the main job) and `make test` (the whole suite).
VENV ?= .venv
PYTHON ?= python3
# The suite runs on three backends; two pytest workers keep it near a quarter hour on 2 cores.
TEST_WORKERS ?= 2
BIN := $(VENV)/bin

.PHONY: demo test install install-dev lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/python -m pip install -q -e .

install-dev: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'

demo: install
	$(BIN)/seawall demo

test: install-dev
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

lint: install-dev
	$(BIN)/ruff check src tests
	$(BIN)/mypy src

clean:
	rm -rf $(VENV) var .pytest_cache
