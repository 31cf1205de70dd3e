"""Known deviations (``--known``): a failure its baseline accepts is reported as known and
does not fail the run; an expired entry excuses nothing and a stale one is reported for
removal. Synthetic sessions for the rules, and a real broken server for a real failure."""

from __future__ import annotations

import json
from pathlib import Path

from suite_helpers import SYNTHETIC_TESTS, Run, synthetic_session_with_file

ALL_KNOWN = """\
known:
  - rule: instruction-counts
    operation: patchExpiringTargets
    match: "/totalInstructions [0-9]+/"
    reason: "PROJ-1: counts are off by one"
    expires: 2999-12-31
  - rule: error-indices
    operation: patchExpiringUserTargets
    reason: "PROJ-2: indices start at 1"
  - rule: views-agree
    operation: getSegment
    reason: "PROJ-3: fixed long ago"
"""
EXPIRED = """\
known:
  - rule: instruction-counts
    operation: patchExpiringTargets
    reason: "PROJ-1: counts are off by one"
    expires: 2000-01-01
  - rule: error-indices
    operation: patchExpiringUserTargets
    match: "not what the message says"
    reason: "PROJ-2: indices start at 1"
"""


all_known = synthetic_session_with_file(SYNTHETIC_TESTS, "--known", "known.yaml", ALL_KNOWN)
expired = synthetic_session_with_file(SYNTHETIC_TESTS, "--known", "known.yaml", EXPIRED)


def test_a_run_whose_every_failure_is_known_passes(all_known: tuple[Path, Run]) -> None:
    reports, result = all_known
    assert result.returncode == 0, result.output
    assert "2 failed" in result.output  # pytest's own count is pytest's
    results = json.loads((reports / "results.json").read_text())
    assert results["status"] == "passed"
    assert results["totals"]["tests"]["known"] == 2 and results["totals"]["tests"]["failed"] == 0
    assert [f["known"] for f in results["failures"]] == [
        "PROJ-1: counts are off by one", "PROJ-2: indices start at 1"]
    assert ("KNOWN test_synthetic.py::test_counts[patchExpiringTargets]: instruction-counts "
            "(tier2); known deviation: PROJ-1: counts are off by one") in result.output
    markdown = (reports / "conformance.md").read_text()
    assert "2 known deviations (failures the baseline accepts)" in markdown
    assert "- known deviation (does not fail the run): PROJ-2: indices start at 1" in markdown
    assert "| [`patchExpiringTargets`](#coverage-patchexpiringtargets) | · | 1 known |" in markdown


def test_an_entry_that_matches_nothing_is_reported_stale(all_known: tuple[Path, Run]) -> None:
    reports, result = all_known
    assert ("WARNING known deviation known.yaml:10 (views-agree on getSegment) matched no "
            "failure of this run: remove it") in result.output
    entries = json.loads((reports / "results.json").read_text())["known_deviations"]["entries"]
    assert [(e["line"], e["state"], e["failures"]) for e in entries] == [
        (2, "matched", ["f1-instruction-counts"]), (7, "matched", ["f2-error-indices"]),
        (10, "stale", [])]
    assert entries[0]["expires"] == "2999-12-31" and entries[1]["expires"] is None
    assert '<tr class="deviation-stale"><td>10</td>' in (reports / "conformance.html").read_text()


def test_an_expired_entry_excuses_nothing(expired: tuple[Path, Run]) -> None:
    reports, result = expired
    assert result.returncode == 1, result.output
    assert ("WARNING known deviation known.yaml:2 (instruction-counts on patchExpiringTargets) "
            "expired 2000-01-01: it excuses nothing (failures it matches: 1): renew or remove it"
            ) in result.output
    results = json.loads((reports / "results.json").read_text())
    assert results["status"] == "failed"
    assert [f["known"] for f in results["failures"]] == [None, None]
    entries = results["known_deviations"]["entries"]
    # a `match:` that the message does not contain: the entry matches nothing
    assert [(e["state"], e["failures"]) for e in entries] == [
        ("expired", ["f1-instruction-counts"]), ("stale", [])]
    assert "| 2 | `instruction-counts` | `patchExpiringTargets` | (any message) |" in (
        reports / "conformance.md").read_text()


def test_a_real_failure_is_known_and_the_other_still_fails(
    broken_run: tuple[Path, Run],
) -> None:
    reports, result = broken_run
    assert result.returncode == 1, result.output
    results = json.loads((reports / "results.json").read_text())
    failures = {f["operation"]: f for f in results["failures"]}
    assert set(failures) == {"patchExpiringTargets", "patchExpiringTargetsForSegment"}
    assert all(f["rule"] == "instruction-counts" for f in failures.values())
    assert failures["patchExpiringTargets"]["known"] == (
        "PROJ-7: the flag endpoint counts one instruction too many")
    assert failures["patchExpiringTargetsForSegment"]["known"] is None
    assert results["totals"]["tests"]["known"] == 1 and results["totals"]["tests"]["failed"] == 1
    assert "contract failures: 2 (1 known)" in result.output
