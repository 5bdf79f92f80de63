# The two commands a newcomer needs: `make run` and `make test`. Each builds .venv by itself.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
N      ?=
# The project's own code; a user's script in the root (the README's bot.py) is not linted.
LINT_PATHS := server protocol client_sdk config tests

.PHONY: run test bench bench-idle lint typecheck clean services help

help:
	@echo "make run        serve on :22005 with embedded defaults (SQLite, in-process cache, offline AI)"
	@echo "make test       install into .venv and run the whole suite (starts Postgres/Redis if needed)"
	@echo "make bench      city benchmark at N=100,250,500,1000 (make bench N=1000 for one size)"
	@echo "make bench-idle hold 10,000 idle connections and report memory per connection"
	@echo "make lint       ruff + mypy --strict"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m server run

services:
	@bash tests/services.sh

test: $(STAMP) services
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m client_sdk.tools.bench city $(if $(N),--players $(N),)

bench-idle: $(STAMP)
	$(PY) -m client_sdk.tools.bench idle

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy

typecheck: $(STAMP)
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache data/
