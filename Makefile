# basinlab — the two commands: `make demo` and `make test`.
# Needs Python 3.11+ and make; everything else is installed into .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# report month for the demo: the previous calendar month unless given (make demo MONTH=2024-06)
MONTH  ?= $(shell $(PYTHON) -c "import datetime as d; t=d.date.today().replace(day=1)-d.timedelta(days=1); print(t.strftime('%Y-%m'))")
WELLS  ?= 200
MONTHS ?= 60
PYTEST_ARGS ?=
# test processes (pytest-xdist; files stay whole on one worker): auto = one per core
TEST_WORKERS ?= auto

.PHONY: demo test test-fast lint install install-dev browser lab bench clean help

help:
	@echo "make demo    install, generate the demo inbox and run the monthly pipeline -> reports/$(MONTH)/"
	@echo "make test    install the dev extras and run the whole test suite"
	@echo "make test-fast  the quick loop: no notebook kernels, runs or heavy tests (markers kernel, slow)"
	@echo "make lint    ruff (style, bugs, complexity) and the import-layering contracts"
	@echo "make lab     open JupyterLab on the notebooks (published warehouse read-only)"
	@echo "make bench   run the benchmarks in bench/ (one JSON line each)"

$(BIN)/python:
	@$(PYTHON) -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 'basinlab needs Python 3.11 or newer (found ' + sys.version.split()[0] + ')')"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The PDF is printed by a Chromium-family browser: find one, or install one, or say what to install.
browser: $(VENV)/.installed
	@$(BIN)/python -c "import sys; from basinlab.report.browser import main; sys.exit(main(['--ensure']))"

demo: install browser
	$(BIN)/basinlab run --month $(MONTH) --demo --wells $(WELLS) --months $(MONTHS)

test: install-dev browser
	PLOOMBER_STATS_ENABLED=false $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# ruff over the code (never `ruff format`: the code keeps its layout) and the import layers
# declared in pyproject.toml ([tool.importlinter]); configuration in pyproject.toml.
# the suite without kernels, Jupyter servers, runs or the heaviest tests (markers `kernel`, `slow`),
# on every core; tests/conftest.py fails an unmarked test that starts a kernel
test-fast: install-dev
	PLOOMBER_STATS_ENABLED=false $(BIN)/python -m pytest -m "not slow and not kernel" -n auto -q $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check lib tests bench
	$(BIN)/lint-imports

lab: install
	$(BIN)/basinlab lab

bench: install-dev
	$(BIN)/python bench/ingest.py --rows 1200000
	$(BIN)/python bench/decline.py --wells 2000 --months 120
	$(BIN)/python bench/pipeline.py --wells 200 --months 60
	$(BIN)/python bench/api.py --clients 8 --seconds 10
	$(BIN)/python bench/report_workbook.py --rows 50000

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
