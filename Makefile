# Data path: specs/ -> generator/ -> generated/ -> mock_server/ and contract_tests/.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8765
DB ?= mock-server.sqlite3

.PHONY: install generate check-generated test serve contract bench-generate bench-serve lint

install: $(VENV)/.installed

# The venv is rebuilt whenever the lock file changes; pip checks every hash.
$(VENV)/.installed: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --require-hashes --no-deps -r requirements.lock
	touch $@

generate: install
	$(PY) -m generator

check-generated: install
	$(PY) -m generator --check

test: install check-generated
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check generator mock_server contract_tests tests

# Generation benchmark (bench/bench_generate.py): ours against three competitors
# on ../shared/reference/launchdarkly-openapi.yaml. Each competitor gets its own
# venv (.venv-bench-<tool>), built once from its hashed lock file
# bench/requirements-bench-<tool>.txt (compiled from the .in beside it):
# fastapi-code-generator pins datamodel-code-generator<0.66, which conflicts
# with the project's 0.89.0, so the tools cannot share one venv.
BENCH_TOOLS := datamodel-codegen fastapi-codegen openapi-python-client
BENCH_VENVS := $(foreach t,$(BENCH_TOOLS),.venv-bench-$(t)/.installed)
RUNS ?= 3

.venv-bench-%/.installed: bench/requirements-bench-%.txt
	rm -rf .venv-bench-$*
	$(PYTHON) -m venv .venv-bench-$*
	.venv-bench-$*/bin/pip install --quiet --require-hashes --no-deps -r $<
	touch $@

bench-generate: install $(BENCH_VENVS)
	$(PY) bench/bench_generate.py --runs $(RUNS)
