# The two commands: `make demo` (the main job) and `make test` (the whole suite).
VENV ?= .venv
PYTHON ?= python3
# The suite runs on three backends; two pytest workers keep it near a quarter hour on 2 cores.
TEST_WORKERS ?= 2
BIN := $(VENV)/bin

.PHONY: demo test install install-dev lock lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# constraints.txt pins the whole tested dependency set (every package, not only the direct ones), so
# `make demo` and `make test` install what CI tested. After changing a dependency: `make lock`.
install: $(BIN)/python
	$(BIN)/python -m pip install -q -c constraints.txt -e .

install-dev: $(BIN)/python
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'

demo: install
	$(BIN)/seawall demo

test: install-dev
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

lock:  # resolves pyproject.toml afresh in a scratch venv, so nothing else installed here leaks in
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q -e '.[dev]'
	{ echo "# The tested dependency set of seawall[dev], every package pinned; made by \`make lock\`."; \
	  echo "# make demo / make test install with it (pip -c). Do not edit by hand."; \
	  .lock-venv/bin/python -m pip freeze --all --exclude-editable | grep -iv '^\(seawall\|pip\)=='; } > constraints.txt
	rm -rf .lock-venv

lint: install-dev
	$(BIN)/ruff check src tests
	$(BIN)/mypy src

clean:
	rm -rf $(VENV) var .pytest_cache
