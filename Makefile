PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test check lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# Starts the emulator on a free port, imports sample_data/ with configs/, prints the summary.
demo: $(STAMP)
	$(BIN)/backfill demo

# Azurite (Azure Storage's emulator, from npm) for tests/sources/test_azure.py; skipped without npm
AZURITE := tests/azurite/node_modules/.bin/azurite-blob
$(AZURITE): tests/azurite/package.json
	-command -v npm >/dev/null && npm install --prefix tests/azurite --no-audit --no-fund \
	  --loglevel=error && touch $(AZURITE)

test: $(STAMP) $(AZURITE)
	$(BIN)/ruff check backfill tests tools
	$(BIN)/pytest -q

# The developer's loop (under a minute): ruff, and the tests of the pure logic (mapping, packing,
# parsing, the controllers, the report, docs' examples), no emulator or subprocess. `make test`
# is the whole suite, which CI runs.
CHECK := tests/delivery/test_adaptive.py tests/test_architecture.py tests/runfiles/test_atomic.py \
	tests/runfiles/test_checkpoint.py tests/mapping/test_config.py tests/mapping/test_convert.py \
	tests/test_docs.py tests/mapping/test_elements.py tests/mapping/test_encode.py \
	tests/mapping/test_eventid.py tests/delivery/test_handoff.py tests/mapping/test_init.py \
	tests/mapping/test_init_exports.py tests/mapping/test_jsonbody.py \
	tests/mapping/test_operations.py tests/delivery/test_packer.py tests/sources/test_parse.py \
	tests/sources/test_parse_ndjson.py tests/mapping/test_paths.py tests/runfiles/test_progress.py \
	tests/delivery/test_ratelimit.py tests/nightly/test_relations.py tests/runfiles/test_report.py \
	tests/mapping/test_schema_file.py tests/nightly/test_keys.py tests/nightly/test_diff.py \
	tests/nightly/test_statefile.py tests/nightly/test_night.py tests/runfiles/test_lock.py \
	tests/runfiles/test_tally.py tests/test_flow.py tests/test_runner.py \
	tests/mapping/test_valueopts.py tests/delivery/test_transport.py \
	tests/emulator/test_workspace_model.py
check: $(STAMP)
	$(BIN)/ruff check backfill tests tools
	$(BIN)/pytest -q $(CHECK)

# The benchmark suite: 1M and 5M-row people CSVs, a 1M-line events NDJSON, the peers, every
# shipped mapping on its sample file scaled to 200k rows, and the rate test, each command run 3
# times (about 12 minutes on 2 cores); then a 10M-row nightly run against validate
# (bench/nightly.py, about 5 minutes), 1M rows from a local S3 server against disk
# (bench/remote.py, 1 minute) and 1M and 5M rows from PostgreSQL against CSV (bench/database.py,
# 3 minutes), then `run` against nginx made to answer like a distant, throttling API
# (bench/distant.py, about 10 minutes). Numbers go to bench/*.json and BENCHMARKS.md.
bench: $(STAMP)
	-[ -x /usr/sbin/nginx ] && [ -e /usr/lib/nginx/modules/ngx_http_echo_module.so ] || \
	  (command -v apt-get >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  nginx libnginx-mod-http-echo >/dev/null)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/distant.py | tee bench/distant.json
	$(BIN)/python bench/nightly.py --rows 10000000 | tee bench/nightly.json
	$(BIN)/python bench/remote.py --rows 1000000 | tee bench/remote.json
	$(BIN)/python bench/database.py --rows 1000000,5000000 | tee bench/database.json

lint: $(STAMP)
	$(BIN)/ruff check backfill tests tools

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
