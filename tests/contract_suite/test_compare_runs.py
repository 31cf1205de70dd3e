"""Comparison with a previous run (``--compare``): two synthetic runs of the same tests, the
second against the first's results.json — new, fixed, still failing (matched by rule,
operation and test, not by message), not re-checked, newly and no longer covered — in every
output; a results.json of another schema version or another target is refused in one line."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from suite_helpers import Run, synthetic_session

from contract_tests.report.compare import load_previous
from contract_tests.report.results import SCHEMA_ID
from contract_tests.settings import ConfigurationError

TESTS = textwrap.dedent('''
    import json
    import os

    import httpx
    import pytest

    from contract_tests.checks import ContractViolation

    RUN = os.environ["SCENARIO"]
    SEGMENT = "http://127.0.0.1:9/api/v2/segments/default/test/s"


    @pytest.mark.tier2
    @pytest.mark.parametrize("operation_id", ["patchExpiringTargets"])
    def test_a(operation_id, recorder):
        status, code = (404, "not_found") if RUN == "1" else (401, "unauthorized")
        request = httpx.Request("GET", SEGMENT, headers={"Authorization": "x"})
        recorder.record(request, httpx.Response(status, request=request,
                                                json={"code": code, "message": "m"}))
        raise ContractViolation("instruction-counts", f"run {RUN}: totalInstructions {RUN}")


    @pytest.mark.tier2
    @pytest.mark.parametrize("operation_id", ["patchExpiringUserTargets"])
    def test_b(operation_id):
        if RUN == "1":
            raise ContractViolation("error-indices", "instructionIndex 7 is not in 0..0")


    @pytest.mark.tier2
    @pytest.mark.parametrize("operation_id", ["getSegment"])
    def test_c(operation_id):
        if RUN == "2":
            raise ContractViolation("access-control", "expected HTTP 401, got 200")


    @pytest.mark.tier2
    @pytest.mark.parametrize("operation_id", ["getFeatureFlag"])
    def test_d(operation_id):
        if RUN == "1":
            raise ContractViolation("views-agree", "listed twice")
        pytest.skip("not this time")
''')

A = ("instruction-counts", "patchExpiringTargets", "test_synthetic.py::test_a[patchExpiringTargets]")
B = ("error-indices", "patchExpiringUserTargets",
     "test_synthetic.py::test_b[patchExpiringUserTargets]")
C = ("access-control", "getSegment", "test_synthetic.py::test_c[getSegment]")
D = ("views-agree", "getFeatureFlag", "test_synthetic.py::test_d[getFeatureFlag]")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run]:
    """The second run's reports directory and output; the first run's results.json is
    previous.json beside it."""
    first = tmp_path_factory.mktemp("first")
    assert synthetic_session(first, TESTS, env={"SCENARIO": "1"}).returncode == 1
    second = tmp_path_factory.mktemp("second")
    (second / "previous.json").write_bytes((first / "reports" / "results.json").read_bytes())
    return second / "reports", synthetic_session(second, TESTS, "--compare previous.json",
                                                 env={"SCENARIO": "2"})


def _keys(entries: list[dict[str, str]]) -> list[tuple[str, str, str]]:
    return [(e["rule"], e["operation"], e["test"]) for e in entries]


def test_results_json_says_what_changed(runs: tuple[Path, Run]) -> None:
    reports, result = runs
    assert result.returncode == 1, result.output
    comparison = json.loads((reports / "results.json").read_text())["comparison"]
    assert comparison["file"] == "previous.json" and comparison["previous_status"] == "failed"
    assert _keys(comparison["new"]) == [C]
    assert _keys(comparison["fixed"]) == [B]
    assert _keys(comparison["still_failing"]) == [A]  # its message changed: still the same
    assert _keys(comparison["not_rechecked"]) == [D]  # skipped this time: not "fixed"
    covered = {(c["operation"], c["dimension"], c["item"]) for c in comparison["newly_covered"]}
    lost = {(c["operation"], c["dimension"], c["item"]) for c in comparison["no_longer_covered"]}
    assert covered == {("getSegment", "status", "401"), ("getSegment", "error code", "unauthorized")}
    assert lost == {("getSegment", "status", "404"), ("getSegment", "error code", "not_found")}


def test_the_summary_and_both_documents_say_it_too(runs: tuple[Path, Run]) -> None:
    reports, result = runs
    counts = ("new 1, fixed 1, still failing 1, not re-checked 1, newly covered 2, "
              "no longer covered 2")
    assert f"compared with previous.json (seed 1234, failed): {counts}" in result.output
    assert f"NEW {C[2]}: access-control (getSegment)" in result.output
    assert f"FIXED {B[2]}: error-indices (patchExpiringUserTargets)" in result.output
    markdown = (reports / "conformance.md").read_text()
    assert "## Compared with the previous run" in markdown
    assert (f"| new | `access-control` | `getSegment` | `{C[2]}` | "
            "[f2-access-control](#f2-access-control) |") in markdown
    assert (f"| fixed | `error-indices` | `patchExpiringUserTargets` | `{B[2]}` | "
            "f2-error-indices (previous run) |") in markdown
    assert "| no longer covered | `getSegment` | status codes | `404` |" in markdown
    page = (reports / "conformance.html").read_text()
    assert '<td>still failing</td><td><code>instruction-counts</code></td>' in page
    suite = ET.parse(reports / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert (properties["compared-new"], properties["compared-fixed"]) == ("1", "1")


@pytest.mark.parametrize(("change", "refusal"), [
    ({"schema": "contract-results/1"},
     ("is contract-results/1, not contract-results/2: compare with a results.json written by "
     "this version of the suite")),
    ({"target_id": "https://staging.example.com"},
     ("is a run against https://staging.example.com, not against http://127.0.0.1:9: compare "
     "runs against the same target")),
    ({"failures": "none"}, ("not a valid contract-results/2 document (failures: 'none' is not "
                           "of type 'array')")),
])
def test_a_results_json_of_another_version_or_target_is_refused(
    runs: tuple[Path, Run], tmp_path: Path, change: dict[str, str], refusal: str,
) -> None:
    reports, _ = runs
    previous = tmp_path / "previous.json"
    previous.write_text(json.dumps({**json.loads((reports / "results.json").read_text()),
                                    **change}))
    with pytest.raises(ConfigurationError) as refused:
        load_previous(previous, SCHEMA_ID, "http://127.0.0.1:9")
    assert str(refused.value) == f"COMPARE file {previous}: {refusal}"


def test_a_refused_comparison_stops_the_run_in_one_line(runs: tuple[Path, Run],
                                                        tmp_path: Path) -> None:
    reports, _ = runs
    previous = json.loads((reports / "results.json").read_text())
    (tmp_path / "previous.json").write_text(json.dumps({**previous, "target_id": "elsewhere"}))
    result = synthetic_session(tmp_path, TESTS, "--compare previous.json", env={"SCENARIO": "2"})
    assert result.returncode == 4, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [("ERROR: contract suite: COMPARE file previous.json: is a run against "
                     "elsewhere, not against http://127.0.0.1:9: compare runs against the same "
                     "target")]
    assert not (tmp_path / "reports" / "results.json").exists()
