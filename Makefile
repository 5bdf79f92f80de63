# The two commands a newcomer needs: `make run` and `make test`. Each builds .venv by itself.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
N      ?=
# The project's own code; a user's script in the root (the README's bot.py) is not linted.
LINT_PATHS := server protocol client_sdk config tests

.PHONY: run test bench bench-ai bench-idle lint typecheck clean services help js-test

help:
	@echo "make run        serve on :22005 with embedded defaults (SQLite, in-process cache, offline AI)"
	@echo "make test       install into .venv and run the whole suite (starts Postgres/Redis if needed)"
	@echo "make bench      city benchmark at N=100,250,500,1000 (make bench N=1000 for one size)"
	@echo "make bench-ai   city + 10% NPC talkers, provider answering in 2 s / failing (N=1000; make bench-ai N=250)"
	@echo "make bench-idle hold 10,000 idle connections and report memory per connection"
	@echo "make lint       ruff + mypy --strict"
	@echo "make js-test    the JavaScript SDK's tests (node --test) against a real server"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m server run

services:
	@bash tests/services.sh

test: $(STAMP) services browser-deps
	$(PY) -m pytest
	@$(MAKE) --no-print-directory js-test

bench: $(STAMP)
	$(PY) -m client_sdk.tools.bench city $(if $(N),--players $(N),)

bench-ai: $(STAMP)
	$(PY) -m client_sdk.tools.bench ai --players $(or $(N),1000)

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

# JavaScript SDK (client_sdk/js): installs its dev tools (npm ci) on first use, then node --test.
# Without node the step is skipped with a note, except under CI=true where it fails.
# One node process per file: --test-force-exit (a file whose example script keeps a timer alive
# must still end) cuts off suites still reporting in files run beside it, hiding their results.
JS := client_sdk/js
js-test: $(STAMP)
	@if ! command -v node >/dev/null 2>&1; then \
	  if [ "$$CI" = "true" ]; then echo "js-test: node is required (CI=true)" >&2; exit 1; fi; \
	  echo "js-test: node not found, JavaScript SDK tests skipped"; exit 0; \
	fi; \
	cd $(JS) && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && \
	for f in test/*.test.mjs; do \
	  node --test --test-force-exit --test-timeout=180000 "$$f" || exit 1; \
	done

# Dashboard (server/dashboard) and its browser tests (tests/browser): Debian's chromium, installed
# with apt-get when missing (Playwright drives it by path; no browser is ever downloaded), and the
# JS SDK's node_modules (the FiveM example's script runs under Node there). Without them the
# browser tests skip with a note, except under CI=true where they fail.
# `make dashboard-vendor` re-copies uPlot (a devDependency of client_sdk/js) into the static files.
.PHONY: browser-deps dashboard-vendor
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; else SUDO=none; fi; \
	  if [ "$$SUDO" = none ]; then echo "browser-deps: no chromium and not root: apt-get install chromium" >&2; \
	  else $$SUDO apt-get install -y -qq chromium >/dev/null 2>&1 || \
	    { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; } || \
	    echo "browser-deps: could not install chromium" >&2; fi; }
	@if command -v node >/dev/null 2>&1; then cd $(JS) && \
	  { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; }; fi

dashboard-vendor:
	cd $(JS) && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && \
	  node scripts/vendor-dashboard.mjs
