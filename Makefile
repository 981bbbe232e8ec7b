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

# Until `backfill run` and the emulator land, the demo validates the sample data: it reads, maps,
# checks and packs everything and prints what would be sent. The sample data holds a few
# deliberately bad rows, so exit code 1 (rows rejected, see the rejects file) is the expected one.
demo: $(STAMP)
	@for c in configs/people.yaml configs/events.yaml; do \
	  echo "== backfill validate $$c"; \
	  $(BIN)/backfill validate $$c --quiet --dump-batches out/$$(basename $$c .yaml).bodies.ndjson \
	    --rejects out/$$(basename $$c .yaml).rejects.ndjson; \
	  s=$$?; [ $$s -le 1 ] || exit $$s; echo; \
	done; echo "bodies and rejects are in out/"

test: $(STAMP)
	$(BIN)/ruff check backfill tests tools
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check backfill tests tools

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
