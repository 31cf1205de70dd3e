"""Bad input files stop a run before any request with one line naming the file, the line and
the problem (status 4): the coverage gate (``--require-coverage``) and the known deviations
(``--known``) are checked name by name against the generated metadata."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from suite_helpers import PYTHON, ROOT, run

from contract_tests.report.baseline import load_baseline
from contract_tests.report.gate import load_gate
from contract_tests.settings import ConfigurationError

GATES = {
    "not-yaml": ("operations: [\n", "2: not YAML: while parsing a flow node"),
    "not-a-mapping": ("- patchExpiringTargets\n", "1: the file must be a mapping"),
    "unknown-top-key": ("operation: {}\n", ("1: unknown key 'operation' (the file has one: "
                                           "operations)")),
    "unknown-operation": ("operations:\n  patchExpiringTarget: {statuses: [200]}\n",
                          ("2: unknown operation 'patchExpiringTarget' (did you mean "
                          "patchExpiringTargets?)")),
    "unknown-key": ("operations:\n  getSegment:\n    stats: [200]\n",
                    "3: unknown key 'stats' for getSegment (did you mean statuses?)"),
    "undocumented-status": ("operations:\n  getSegment:\n    statuses: [200,\n      418]\n",
                            ("4: 418 is not a documented status code of getSegment (its codes: "
                            "200, 401, 403, 404, 429)")),
    "unknown-rule": ("operations:\n  patchExpiringTargets:\n    rules: [instruction-count]\n",
                     "3: unknown rule 'instruction-count' (did you mean instruction-counts?)"),
    "rule-of-another-operation": (
        "operations:\n  getSegment:\n    rules: [instruction-counts]\n",
        ("3: rule 'instruction-counts' is not a tier-2 rule of getSegment (its rules: "
        "access-control, rate-limit)")),
    "unknown-kind": (("operations:\n  patchExpiringTargets:\n    instructions:\n"
                     "      addTarget: [succeeded]\n"),
                     ("4: patchExpiringTargets has no instruction 'addTarget' (did you mean "
                     "addExpiringTarget?)")),
    "unknown-outcome": (("operations:\n  patchExpiringTargets:\n    instructions:\n"
                        "      removeExpiringTarget: [succeeded, 'failed: not-targeted']\n"),
                        ("4: 'failed: not-targeted' is not an outcome of removeExpiringTarget "
                        "(one of failed, succeeded)")),
    "unknown-field": ("operations:\n  patchExpiringTargets:\n    fields: {note: [sent]}\n",
                      "3: patchExpiringTargets has no field 'note'"),
    "all-error-codes": ("operations:\n  getSegment:\n    error_codes: all\n",
                        ("3: getSegment: the documents give no error codes, so `all` asks for "
                        "nothing")),
    "empty-list": ("operations:\n  getSegment:\n    statuses: []\n",
                   "3: getSegment: statuses must be a non-empty list or `all`"),
}
ENTRY = "known:\n  - rule: instruction-counts\n    operation: patchExpiringTargets\n"
BASELINES = {
    "not-yaml": ("known: [\n  - rule: x\n", "2: not YAML"),
    "no-known": ("entries: []\n", "1: expected a mapping with a `known:` list"),
    "not-a-list": ("known: {rule: x}\n", "1: `known:` must be a list"),
    "unknown-rule": (("known:\n  - rule: instruction-count\n    operation: getSegment\n"
                     "    reason: x\n"),
                     "2: unknown rule 'instruction-count' (did you mean instruction-counts?)"),
    "unknown-operation": (("known:\n  - rule: access-control\n    operation: getSegments\n"
                          "    reason: x\n"),
                          "3: unknown operation 'getSegments' (did you mean getSegment?)"),
    "bad-date": (ENTRY + "    reason: x\n    expires: 2026-13-01\n",
                 "5: `expires:` '2026-13-01' is not a date (YYYY-MM-DD)"),
    "not-a-date": (ENTRY + "    reason: x\n    expires: next week\n",
                   "5: `expires:` 'next week' is not a date (YYYY-MM-DD)"),
    "no-reason": (ENTRY, "2: the entry needs `reason:` (a string)"),
    "bad-regex": (ENTRY + "    reason: x\n    match: /[/\n",
                  "5: `match:` is not a regular expression"),
    "unknown-key": (ENTRY + "    reason: x\n    expiry: 2026-01-01\n",
                    "5: unknown key 'expiry' (did you mean expires?)"),
    "tier-1-check": (("known:\n  - rule: response_schema_conformance\n    operation: getSegment\n"
                     "    reason: x\n    expires: '2030-01-01'\n"), None),  # a valid entry
}


def _problem(load: Callable[[Path], Any], label: str, tmp_path: Path, text: str) -> str | None:
    path = tmp_path / "file.yaml"
    path.write_text(text)
    try:
        load(path)
    except ConfigurationError as exc:
        message = str(exc)
        assert message.startswith(f"{label} {path}:") and "\n" not in message
        return message.removeprefix(f"{label} {path}:")
    return None


@pytest.mark.parametrize("case", sorted(GATES))
def test_a_bad_coverage_file_names_its_line_and_problem(case: str, tmp_path: Path) -> None:
    text, expected = GATES[case]
    found = _problem(load_gate, "coverage file", tmp_path, text)
    assert found is not None and found.startswith(expected), found


@pytest.mark.parametrize("case", sorted(BASELINES))
def test_a_bad_known_deviations_file_names_its_line_and_problem(case: str,
                                                                tmp_path: Path) -> None:
    text, expected = BASELINES[case]
    found = _problem(load_baseline, "known-deviations file", tmp_path, text)
    if expected is None:
        assert found is None
    else:
        assert found is not None and found.startswith(expected), found


def test_the_shipped_default_gate_is_valid() -> None:
    gate = load_gate(ROOT / "contract_tests" / "coverage-default.yaml")
    assert {r.dimension for r in gate.requirements} == {
        "status", "instruction", "rule", "parameter", "field"}


@pytest.mark.parametrize("option", ["--require-coverage", "--known"])
def test_the_runner_stops_before_starting_anything(option: str, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("known: [\n" if option == "--known" else
                                       "operations:\n  getSegment:\n    rules: [nope]\n")
    result = run([PYTHON, "-m", "contract_tests.run", option, "bad.yaml",
                  "--reports-dir", str(tmp_path / "reports")], cwd=tmp_path, timeout=60)
    assert result.returncode == 4, result.output
    label = "known-deviations file" if option == "--known" else "coverage file"
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"contract: {label} {tmp_path / 'bad.yaml'}:"), lines
    assert "mock server started" not in result.output


def test_pytest_stops_before_any_test(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("operations:\n  getSegment:\n    statuses: [201]\n")
    result = run([PYTHON, "-m", "pytest", "contract_tests", "-p", "no:cacheprovider",
                  "--require-coverage", str(tmp_path / "bad.yaml"),
                  f"--reports-dir={tmp_path / 'reports'}"], cwd=ROOT, timeout=120)
    assert result.returncode == 4, result.output
    assert result.output.strip() == (
        f"ERROR: contract suite: coverage file {tmp_path / 'bad.yaml'}:3: 201 is not a "
        "documented status code of getSegment (its codes: 200, 401, 403, 404, 429)")
