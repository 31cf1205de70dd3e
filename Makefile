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
