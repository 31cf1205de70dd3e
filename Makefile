# Data path: specs/ -> generator/ -> generated/ -> mock_server/ and contract_tests/.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8765
DB ?= mock-server.sqlite3
CONFIG ?=

.PHONY: install generate check-generated test serve contract bench-generate bench-serve \
	bench-serve-pg bench-serve-ab lint proxy replay compare bench-proxy bench-workers

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

# Every test, spread over TEST_WORKERS pytest-xdist workers (2: this machine's cores; each
# worker starts its own PostgreSQL for the tests that need one). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: install check-generated
	$(if $(shell echo '$(TEST_WORKERS)' | grep -Ex '[0-9]+'),,$(error TEST_WORKERS=$(TEST_WORKERS): give a number of pytest-xdist workers, or 0 for one process))
	$(PY) -m pytest -q $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS))

# ruff and mypy over the project's own code (tests/test_static_checks.py runs the same in CI)
lint: install
	$(VENV)/bin/ruff check generator mock_server contract_tests proxy fidelity tests
	$(PY) -m mypy generator mock_server contract_tests proxy fidelity

# The contract suite (docs/contract-suite.md). Without BASE_URL: against the kit's mock, started
# as a real process on a free loopback port and stopped afterwards, every tier. With
# BASE_URL=https://...: tiers 1-2 against that server (tokens from LD_API_TOKEN,
# LD_API_TOKEN_READONLY; keys from LD_PROJECT_KEY, LD_ENVIRONMENT_KEY). EXAMPLES=N per test,
# SEED=N to repeat a run, NO_SHRINK=1 to report a failing example unshrunk, MAX_REQUESTS=N (a
# request budget), RATE=R (requests per second), TIERS=1,2, OPS=operationId,..., PLAN=1 (print
# the plan, send nothing), REQUIRE_COVERAGE=FILE (fail on what FILE lists and the run never
# exercised; contract_tests/coverage-default.yaml), KNOWN=FILE (known deviations: matching
# failures do not fail the run), COMPARE=FILE (a previous results.json: new, fixed, still
# failing, newly covered, no longer covered). Reports in reports/ (junit.xml, conformance.md,
# conformance.html, results.json, repro/<failure id>.sh). WORKERS=N or auto: the tests spread
# over N pytest-xdist workers (one seed, one budget and one set of reports for the run).
contract: install generate
	$(PY) -m contract_tests.run $(if $(BASE_URL),--base-url '$(BASE_URL)') $(if $(WORKERS),--workers '$(WORKERS)') $(if $(EXAMPLES),--examples $(EXAMPLES)) $(if $(SEED),--seed $(SEED)) $(if $(MAX_REQUESTS),--max-requests $(MAX_REQUESTS)) $(if $(RATE),--rate $(RATE)) $(if $(TIERS),--tiers $(TIERS)) $(if $(OPS),--ops $(OPS)) $(if $(PLAN),--plan) $(if $(REQUIRE_COVERAGE),--require-coverage '$(REQUIRE_COVERAGE)') $(if $(KNOWN),--known '$(KNOWN)') $(if $(COMPARE),--compare '$(COMPARE)') $(if $(NO_SHRINK),-- --no-shrink)

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

# The mock server on loopback (see docs/mock-server.md): `make serve PORT=9000
# DB=:memory: CONFIG=my-config.yaml`; DB=postgresql://user:password@host:port/database for
# PostgreSQL (several `make serve PORT=...` on one database: replicas). Ctrl-C stops it.
serve: install
	$(PY) -m mock_server --host 127.0.0.1 --port $(PORT) --db '$(DB)' $(if $(CONFIG),--config $(CONFIG))

# Serve benchmark (bench/bench_serve.py): the mock server against Prism with wrk on
# loopback, plus the mock's own scaling; writes bench/results/serve.json. Needs wrk
# (apt-get install -y wrk) and Prism (npm ci --prefix bench, from bench/package-lock.json).
bench/node_modules/.installed: bench/package.json bench/package-lock.json
	npm ci --prefix bench
	touch $@

bench-serve: install bench/node_modules/.installed
	$(PY) bench/bench_serve.py

# The same PATCH on PostgreSQL, one replica and two, beside SQLite (bench/bench_serve_pg.py);
# PG_URL=postgresql://... to use a server of yours, else a throwaway one (needs PostgreSQL).
bench-serve-pg: install
	$(PY) bench/bench_serve_pg.py $(if $(PG_URL),--pg-url '$(PG_URL)')

# Before and after a change to the mock: BEFORE=a checkout of the older code (e.g. `git worktree
# add /tmp/before REV`), its mock and this one under the same wrk load, taking turns
# (bench/bench_serve_ab.py).
bench-serve-ab: install
	$(if $(BEFORE),,$(error BEFORE=path/to/another/checkout is required))
	$(PY) bench/bench_serve_ab.py --before '$(BEFORE)'

# The suite on one process and on two pytest-xdist workers, in-process and against the mock
# process, same seed (bench/bench_workers.py; writes bench/results/workers.json).
bench-workers: install
	$(PY) bench/bench_workers.py $(if $(EXAMPLES),--examples $(EXAMPLES)) $(if $(SEED),--seed $(SEED))

# The validating proxy (docs/proxy.md): `make proxy UPSTREAM=https://staging.example.com
# PORT=8766 HAR=traffic.har`: forwards every request on 127.0.0.1:PORT to UPSTREAM unchanged,
# judges the traffic by tiers 1-2, writes reports/proxy.md and .json on Ctrl-C (HAR: also the
# traffic, without credentials). PORT defaults to 8766 here (8765 is the mock's).
PROXY_PORT = $(if $(filter command line environment,$(origin PORT)),$(PORT),8766)
proxy: install
	$(if $(UPSTREAM),,$(error UPSTREAM=https://... is required))
	$(PY) -m proxy --upstream '$(UPSTREAM)' --port $(PROXY_PORT) $(if $(HAR),--har '$(HAR)')

# A recorded HAR file's requests sent again to BASE_URL, judged the same way (reports/replay.md
# and .json). Tokens: LD_API_TOKEN for the label `writer`, LD_API_TOKEN_READONLY for `reader`;
# an opaque label only as TOKENS maps it: TOKENS='token-1=LD_API_TOKEN_READONLY
# token-2=LD_API_TOKEN' (docs/proxy.md).
replay: install
	$(if $(HAR),,$(error HAR=file.har is required))
	$(if $(BASE_URL),,$(error BASE_URL=https://... is required))
	$(PY) -m proxy.replay '$(HAR)' --base-url '$(BASE_URL)' $(foreach t,$(TOKENS),--token '$(t)')

# The mock's fidelity against BASE_URL (docs/proxy.md): one seeded plan against both, every
# difference classified; SEED=N repeats a plan, MAX_REQUESTS=N bounds what the target gets,
# MOCK_URL=... compares with a running kit mock instead of starting one. reports/fidelity.md.
compare: install
	$(if $(BASE_URL),,$(error BASE_URL=https://... is required))
	$(PY) -m fidelity --base-url '$(BASE_URL)' $(if $(SEED),--seed $(SEED)) $(if $(MAX_REQUESTS),--max-requests $(MAX_REQUESTS)) $(if $(MOCK_URL),--mock-url '$(MOCK_URL)')

# Latency the proxy adds to a 10-instruction PATCH at 200 requests/s (bench/bench_proxy.py).
bench-proxy: install
	$(PY) bench/bench_proxy.py
