"""Coverage, measured from what a run sent and received, and the gate on it
(``--require-coverage``): a synthetic session records one semantic PATCH and checks one rule;
a gate that asks for exactly that passes, one that asks for more fails the run as a coverage
gap (status 1, its own section and line everywhere), not as a contract failure."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

from suite_helpers import Run, synthetic_session_with_file

from contract_tests.report import RunData
from contract_tests.report.coverage import coverage_of
from generated.operations import OPERATIONS

TESTS = textwrap.dedent('''
    import os

    import httpx
    import pytest

    from contract_tests.checks import check_counts, check_error_indices

    PATCH = "http://127.0.0.1:9/api/v2/flags/default/f/expiring-targets/test"
    ANSWER = {"items": [], "totalInstructions": 1, "successfulInstructions": 1,
              "failedInstructions": 0, "errors": []}


    @pytest.mark.tier2
    @pytest.mark.parametrize("operation_id", ["patchExpiringTargets"])
    def test_patch(operation_id, recorder):
        body = {"instructions": [{"kind": "addExpiringTarget", "contextKind": "user",
                                  "contextKey": "a", "variationId": "v", "value": 1}]}
        request = httpx.Request("PATCH", PATCH, json=body, headers={
            "Authorization": os.environ["LD_API_TOKEN"],
            "Content-Type": "application/json; domain-model=launchdarkly.semanticpatch"})
        recorder.record(request, httpx.Response(200, request=request, json=ANSWER))
        check_counts(ANSWER, 1)


    @pytest.mark.tier3
    @pytest.mark.parametrize("operation_id", ["patchExpiringTargets"])
    def test_policy(operation_id):
        check_error_indices(ANSWER, 1)  # tier 3 reuses a tier-2 check: no rule exercised
''')

MET = """\
operations:
  patchExpiringTargets:
    statuses: [200]
    instructions: {addExpiringTarget: [succeeded]}
    rules: [instruction-counts]
    parameters: {Authorization: [sent]}
    fields: {comment: [not sent]}
"""
# the same, and three things the session never did
UNMET = MET + """\
    error_codes: [not_found]
  getSegment:
    statuses: [200]
"""
UNMET = UNMET.replace("statuses: [200]\n    instructions", "statuses: [200, 404]\n    instructions")
UNMET = UNMET.replace("rules: [instruction-counts]", "rules: [instruction-counts, error-indices]")


met = synthetic_session_with_file(TESTS, "--require-coverage", "gate.yaml", MET)
unmet = synthetic_session_with_file(TESTS, "--require-coverage", "gate.yaml", UNMET)


def test_a_gate_the_run_meets_passes(met: tuple[Path, Run]) -> None:
    reports, result = met
    assert result.returncode == 0, result.output
    assert "coverage gaps: 0 (gate.yaml)" in result.output
    results = json.loads((reports / "results.json").read_text())
    assert results["status"] == "passed"
    assert results["coverage_gate"] == {"file": "gate.yaml", "gaps": []}
    markdown = (reports / "conformance.md").read_text()
    assert "None: the run exercised everything `gate.yaml` requires." in markdown


def test_what_the_gate_lists_and_the_run_never_did_fails_it_as_a_coverage_gap(
    unmet: tuple[Path, Run],
) -> None:
    reports, result = unmet
    assert result.returncode == 1, result.output
    assert "1 passed" in result.output  # pytest saw no failure: the gate failed the run
    gaps = [line for line in result.output.splitlines() if line.startswith("COVERAGE GAP ")]
    assert gaps == [
        "COVERAGE GAP patchExpiringTargets: status 404 (required at gate.yaml:3)",
        "COVERAGE GAP patchExpiringTargets: rule error-indices (required at gate.yaml:5)",
        "COVERAGE GAP patchExpiringTargets: error code not_found (required at gate.yaml:8)",
        "COVERAGE GAP getSegment: status 200 (required at gate.yaml:10)",
    ]
    assert "contract failures: 0;" in result.output
    results = json.loads((reports / "results.json").read_text())
    assert results["status"] == "coverage-gap" and results["failures"] == []
    assert [(g["operation"], g["dimension"], g["item"]) for g in
            results["coverage_gate"]["gaps"]] == [
        ("patchExpiringTargets", "status", "404"), ("patchExpiringTargets", "rule", "error-indices"),
        ("patchExpiringTargets", "error code", "not_found"), ("getSegment", "status", "200")]
    markdown = (reports / "conformance.md").read_text()
    assert "**COVERAGE GAP: 4 items the coverage file requires were never exercised" in markdown
    assert "## Coverage gaps (4)" in markdown
    assert ("| [`patchExpiringTargets`](#coverage-patchexpiringtargets) | tier-2 rules | "
            "`error-indices` | 5 |") in markdown
    assert "| tier-2 rules | `error-indices` | **never (required)** |" in markdown
    page = (reports / "conformance.html").read_text()
    assert 'class="banner coverage-gap"' in page and 'id="coverage-gaps-4"' in page
    suite = ET.parse(reports / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    properties = [(p.get("name"), p.get("value")) for p in suite.iter("property")]
    assert ("status", "coverage-gap") in properties and ("coverage-gaps", "4") in properties
    assert ("coverage-gap", "getSegment status: 200") in properties


def test_coverage_counts_what_was_sent_and_checked(met: tuple[Path, Run]) -> None:
    reports, _ = met
    results = json.loads((reports / "results.json").read_text())
    counts = {(c["operation"], c["dimension"], c["item"]): c["count"]
              for c in results["coverage"]}
    patch = "patchExpiringTargets"
    assert counts[(patch, "status", "200")] == 1 and counts[(patch, "status", "409")] == 0
    assert counts[(patch, "instruction", "addExpiringTarget succeeded")] == 1
    assert counts[(patch, "rule", "instruction-counts")] == 1
    assert counts[(patch, "rule", "error-indices")] == 0  # checked by a tier-3 test only
    assert counts[(patch, "parameter", "Authorization sent")] == 1
    assert counts[(patch, "parameter", "Authorization not sent")] == 0
    assert counts[(patch, "field", "comment not sent")] == 1
    markdown = (reports / "conformance.md").read_text()
    assert "| status codes | `409` | **never** |" in markdown  # documented, never reached


def test_documented_items_come_first_and_others_are_marked() -> None:
    patch = "patchExpiringTargets"
    run = RunData(target="t", seed=1, examples_per_test=1, in_process=True,
                  statuses={(patch, 200): 3, (patch, 405): 1},
                  instructions={(patch, "(unknown kind)", "failed"): 2},
                  usage={(patch, "instruction", "addExpiringTarget failed: not-targeted"): 1,
                         (patch, "error code", "method_not_allowed"): 1})
    (mine,) = [c for c in coverage_of(run) if c.operation == patch]
    statuses = [(i.name, i.count, i.documented) for i in mine.of("status")]
    assert statuses[:len(OPERATIONS[patch].status_codes)] == [
        (str(code), 3 if code == 200 else 0, True) for code in OPERATIONS[patch].status_codes]
    assert statuses[-1] == ("405", 1, False)
    reasons = {i.name: i.count for i in mine.of("instruction") if ":" in i.name}
    assert reasons["addExpiringTarget failed: not-targeted"] == 1
    assert "removeExpiringTarget failed: not-targeted" not in reasons  # adds only
    assert mine.reached("status") == (1, len(OPERATIONS[patch].status_codes))
    assert [(i.name, i.documented) for i in mine.of("error code")] == [
        ("method_not_allowed", False)]

