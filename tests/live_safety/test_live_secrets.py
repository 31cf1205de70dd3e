"""Secrets: run live-like (no --kit-mock) against a mock that knows two recognisable tokens,
with JUnit and the reports on, passing and failing (failures print Schemathesis' curls, the
recorder's curls and Hypothesis' falsifying examples); neither token appears in anything the
run printed or in any file it wrote: its working directory (reports, JUnit, any .hypothesis
directory, temporary files) and any file under the project changed while it ran.

Not only the whole tokens: no piece of 10 characters of one either (pytest shows long reprs
cut in the middle, which once split the read-only token in two, past any search for it).

(tests/contract_suite/test_contract_run.py checks a passing --kit-mock session's reports;
these cover the live path, the read-only token, failing runs, pieces of tokens and the whole
working tree.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from live_safety_helpers import ROOT, SECRETS, Scenario, files_changed_since, record

pytestmark = pytest.mark.slow


FRAGMENT = 10  # nor any piece of one this long (a repr cut short can split a token in two)
NEEDLES = tuple(sorted({s[i:i + FRAGMENT] for s in SECRETS
                        for i in range(len(s) - FRAGMENT + 1)}))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # removed in the meantime (another engineer's temporary file)
        return b""


def _scan(scenario: Scenario) -> tuple[dict[str, Any], set[str]]:
    """What was scanned and what was found; and the names of the files the run wrote."""
    run = scenario.run
    written = [p for p in run.workdir.rglob("*") if p.is_file()]
    in_project = [p for p in files_changed_since(ROOT, scenario.started_at)
                  if p.suffix != ".pyc"]  # bytecode of modules, written by imports
    scanned = [p for p in written + in_project if p.is_file()]
    hits = [str(p) for p in scanned if any(n.encode() in _read(p) for n in NEEDLES)]
    hits += [f"(output: {n!r})" for n in NEEDLES if n in run.output]
    return {
        "files_scanned": len(scanned),
        "bytes_scanned": sum(len(_read(p)) for p in scanned) + len(run.output.encode()),
        "output_bytes": len(run.output.encode()),
        "hits": hits,
    }, {p.name for p in written}


def test_no_token_anywhere_after_a_passing_live_run(clean_run: Scenario) -> None:
    assert clean_run.run.returncode == 0, clean_run.run.output[-3000:]
    scan, files = _scan(clean_run)
    record("secrets_passing_run", scan)
    assert scan["hits"] == []
    assert {"junit.xml", "conformance.md", "conformance.html"} <= files


def test_no_token_anywhere_after_a_failing_live_run(failing_run: Scenario) -> None:
    run = failing_run.run
    assert run.returncode == 1, run.output[-3000:]
    # the paths a token could leak through were taken: Schemathesis' curl (it sends the token
    # as a header), the recorder's curls, Hypothesis' falsifying examples
    assert "Reproduce with" in run.output and "curl" in run.output
    assert "Failing test case" in run.output or "Falsifying example" in run.output
    assert '"Authorization: $LD_API_TOKEN"' in run.report.read_text()  # the recorder's curls
    scan, _ = _scan(failing_run)
    record("secrets_failing_run", {**scan, "contract_failures": run.count("contract failures")})
    assert scan["hits"] == []
