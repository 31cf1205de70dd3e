"""`make test`'s TEST_WORKERS: a bad value is one line naming it, before any test runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# run as make's own child when `make test` runs this: make's variables would make the inner
# make print "Entering/Leaving directory" lines around what it echoes
ENV = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}


@pytest.mark.parametrize("value", ["abc", "-1", "2x"])
def test_a_bad_test_workers_value_is_one_line_and_runs_nothing(value: str) -> None:
    if subprocess.run(["make", "-q", "install"], cwd=ROOT, env=ENV, check=False).returncode:
        pytest.skip("the venv is not up to date; `make test` would rebuild it")
    result = subprocess.run(["make", "-s", "test", f"TEST_WORKERS={value}"], cwd=ROOT, env=ENV,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "TEST_WORKERS" in line]
    assert len(errors) == 1, result.stderr
    assert f"TEST_WORKERS={value}: give a number of pytest-xdist workers" in errors[0]
    assert "passed" not in result.stdout  # pytest never started


@pytest.mark.parametrize(("value", "expected"), [("0", "pytest -q"), ("3", "pytest -q -n 3")])
def test_test_workers_chooses_the_pytest_command(value: str, expected: str) -> None:
    result = subprocess.run(["make", "-n", "test", f"TEST_WORKERS={value}"], cwd=ROOT, env=ENV,
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.splitlines()[-1].rstrip().endswith(expected)
