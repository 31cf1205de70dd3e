"""The suite on pytest-xdist (``WORKERS=N``, contract_tests/workers.py, report/merge.py): a run
spread over two workers reports what one process reports, with one seed, its failures once
with their repro scripts, and its budget kept for the run as a whole (the last in
test_budget_pacing.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from suite_helpers import PYTHON, run

ROOT = Path(__file__).resolve().parents[2]
SUBSET = ["-m", "tier1 or tier2"]  # every tier-1 operation, the semantic and access tests


def _suite(reports: Path, *options: str) -> tuple[int, str, dict[str, Any]]:
    result = run([PYTHON, "-m", "pytest", "contract_tests", "-q", "-p", "no:cacheprovider",
                  "--examples", "2", "--reports-dir", str(reports),
                  f"--junitxml={reports / 'junit.xml'}", *options], cwd=ROOT, timeout=600)
    results = reports / "results.json"
    loaded = json.loads(results.read_text()) if results.is_file() else {}
    return result.returncode, result.output, loaded


def _exercised(results: dict[str, Any], often: int = 1) -> set[tuple[str, str, str]]:
    return {(c["operation"], c["dimension"], c["item"]) for c in results["coverage"]
            if c["count"] >= often}


def test_two_workers_report_what_one_process_reports(tmp_path: Path) -> None:
    one = _suite(tmp_path / "one", "--hypothesis-seed=3", *SUBSET)
    two = _suite(tmp_path / "two", "--hypothesis-seed=3", "-n", "2", *SUBSET)
    assert one[0] == 0 and two[0] == 0, two[1][-3000:]
    for part in ("status", "totals", "matrix", "seed", "not_run"):
        assert two[2][part] == one[2][part], part
    # how often an example hits an item varies a little with the order of the tests (the
    # state they meet): what one run exercised often, the other exercised too
    assert _exercised(one[2], often=3) <= _exercised(two[2])
    assert _exercised(two[2], often=3) <= _exercised(one[2])
    assert "-n 2" in two[2]["rerun"] and "-n" not in one[2]["rerun"]
    assert (tmp_path / "two" / "conformance.html").is_file()
    assert not list((tmp_path / "two").glob("*gw*"))  # the workers wrote no reports of theirs


def test_without_a_seed_every_worker_takes_the_controllers(tmp_path: Path) -> None:
    status, output, results = _suite(tmp_path, "-n", "2", "-m", "tier2", "-k", "semantics")
    assert status == 0, output[-3000:]
    assert results["status"] == "passed" and results["incomplete_reason"] is None
    assert f"--hypothesis-seed={results['seed']}" in results["rerun"]


def test_a_failure_a_worker_finds_is_reported_once_with_its_repro(tmp_path: Path) -> None:
    status, output, results = _suite(tmp_path, "-n", "2", "--hypothesis-seed=0", "--no-shrink",
                                     "--app", "tests.contract_power.broken:wrong_counts",
                                     "-m", "tier2")
    assert status == 1, output[-3000:]
    rules = [failure["rule"] for failure in results["failures"]]
    assert "instruction-counts" in rules, rules
    assert len({f["id"] for f in results["failures"]}) == len(results["failures"])
    scripts = sorted(p.name for p in (tmp_path / "repro").glob("*.sh"))
    assert scripts and scripts == sorted(Path(f["reproduction"]["script"]).name
                                         for f in results["failures"]
                                         if f["reproduction"]["script"])
    junit = (tmp_path / "junit.xml").read_text()
    assert junit.count("<failure") >= 1 and 'name="status" value="failed"' in junit


def test_a_bad_workers_setting_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    for value in ("two", "0"):
        result = run([PYTHON, "-m", "contract_tests.run", "--workers", value,
                      "--reports-dir", str(tmp_path / "reports")], cwd=tmp_path, timeout=60)
        assert result.returncode == 4, result.output
        assert result.output.strip() == (f"contract: WORKERS={value} (--workers): give a "
                                         f"number of workers (1, 2, ...) or auto")
