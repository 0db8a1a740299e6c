# The two commands of the README: `make run` and `make test`.
# Both create .venv when it is missing and reinstall only when pyproject.toml changed.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install

## run: the product with demo data on http://127.0.0.1:$PORT (default 8000); Ctrl-C stops it
run: $(STAMP)
	$(BIN)/python -m config.runner

## test: the whole suite, against DATABASE_URL/REDIS_URL or the embedded servers (ARGS="-k x")
test: $(STAMP)
	$(BIN)/python -m config.embedded -- $(BIN)/pytest $(ARGS)

## lint: ruff over the repository
lint: $(STAMP)
	$(BIN)/ruff check .

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@
