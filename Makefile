# The two commands of the README (`make demo`, `make test`) and their parts.
# Everything is installed into ./.venv; jars are cached in ~/.cache/lastmile.

PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
LASTMILE := $(BIN)/lastmile
STAMP    := $(VENV)/.installed
MAP_WEB  := lastmile/map/web
MAP_MODULES := $(MAP_WEB)/node_modules/.package-lock.json
TEST_HOME := .lastmile-test
PYTEST_ARGS ?=

.PHONY: install jars up down status demo test test-unit lint clean browser

install: $(STAMP) $(MAP_MODULES)

# Re-install when the pins or the set of packages change.
$(STAMP): setup.py lastmile/versions.py $(wildcard */__init__.py)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (set PYTHON=python3.11)")'
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@echo "installing lastmile and its pinned dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	@$(BIN)/python -m pip install --quiet --progress-bar off -e '.[test,lint]'
	@touch $@

# The live map's browser dependencies, pinned by its package-lock.json (served by `lastmile map`).
$(MAP_MODULES): $(MAP_WEB)/package.json $(MAP_WEB)/package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js) is needed for the live map's browser dependencies"; exit 1; }
	@echo "installing the live map's browser dependencies into $(MAP_WEB)/node_modules ..."
	@cd $(MAP_WEB) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Chromium for the live map's browser test (Debian's package: the tests never download a browser).
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser test ..."; \
	  { apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; } \
	  || { echo "cannot install chromium (needs root and apt): install Debian's chromium package"; exit 1; }; }

jars: install
	$(LASTMILE) fetch-jars

up: install
	$(LASTMILE) up

down:
	@if [ -x $(LASTMILE) ]; then $(LASTMILE) down; fi

status: install
	$(LASTMILE) status

# Start the local stack, simulate a 5-partner city into Kafka, run the coordination job, print the
# result, then the KPI table and the report with its charts (.lastmile/report.html), and leave
# the live map running (its address is the last line; `make down` stops it).
# It starts from empty topics and tables: a second demo would otherwise read the first
# one's events again (the same event times: late duplicates by the thousands).
demo: install
	@$(LASTMILE) down --quiet
	rm -rf .lastmile/kafka .lastmile/clickhouse .lastmile/checkpoints .lastmile/demo-truth.json
	$(LASTMILE) up
	$(LASTMILE) simulate --partners 5 --tasks-per-day 5000 --events 100000 --truth .lastmile/demo-truth.json
	$(LASTMILE) run --bounded
	$(LASTMILE) report --html .lastmile/report.html
	$(LASTMILE) map --background

# The whole suite. The test stack (own ports, own home) is started by the tests and
# stopped at the end; the `down` below also catches a run that was killed midway.
# pytest's exit status 5 ("no tests ran") fails the target like any other failure.
test: install browser
	@status=0; $(BIN)/python -m pytest $(PYTEST_ARGS) || status=$$?; \
	  LASTMILE_HOME=$(TEST_HOME) $(LASTMILE) down --quiet; \
	  exit $$status

# Lint (ruff) and types (mypy) as configured in pyproject.toml; CI runs it before the tests.
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test-unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

clean: down
	rm -rf $(VENV) .lastmile $(TEST_HOME) *.egg-info .pytest_cache $(MAP_WEB)/node_modules test-artifacts
