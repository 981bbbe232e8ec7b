PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# Starts the emulator on a free port, imports sample_data/ with configs/, prints the summary.
demo: $(STAMP)
	$(BIN)/backfill demo

test: $(STAMP)
	$(BIN)/ruff check backfill tests tools
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check backfill tests tools

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
