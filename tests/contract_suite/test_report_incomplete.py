"""Reports that cannot lie: a run that pytest did not finish — Ctrl-C, a spent request budget
(``session.shouldstop`` and a BaseException), ``-x`` — is INCOMPLETE in the terminal summary,
the Markdown, the HTML, results.json and the JUnit file, each naming the reason and what did
not run, with the same totals everywhere; and no output of an earlier run survives a session
start or a configuration error."""

from __future__ import annotations

import json
import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from suite_helpers import PYTHON, ROOT, SYNTHETIC_CONFTEST, Run, run

from contract_tests.report import REPORT_FILES

TESTS = '''
import os

import pytest


class BudgetSpent(BaseException):
    """As a spent request budget stops a run: after setting session.shouldstop."""


@pytest.mark.tier1
@pytest.mark.parametrize("operation_id", ["getSegment"])
def test_first(operation_id):
    pass


@pytest.mark.tier2
@pytest.mark.parametrize("operation_id", ["patchExpiringTargets"])
def test_stops(operation_id, request):
    how = os.environ["STOP"]
    if how == "ctrl-c":
        raise KeyboardInterrupt
    if how == "budget":
        request.session.shouldstop = "request budget of 3 spent"
        raise BudgetSpent("request budget of 3 spent")
    assert how == "a pass", "a failure under -x"


@pytest.mark.tier2
@pytest.mark.parametrize("operation_id", ["getSegment", "postSegment"])
def test_never_runs(operation_id):
    pass


@pytest.mark.tier3
def test_policy_never_runs():
    pass
'''

# how -> (extra pytest arguments, exit status, the reason, the stopping test cut short)
CASES = {
    "ctrl-c": ([], 2, "interrupted (KeyboardInterrupt)", True),
    "budget": ([], 2, "request budget of 3 spent", True),
    "maxfail": (["-x"], 1, "stopped early (-x / --maxfail): stopping after 1 failures", False),
}
STOPPING = "test_synthetic.py::test_stops[patchExpiringTargets]"


def _earlier_run(reports: Path) -> None:
    reports.mkdir(parents=True)
    for name in REPORT_FILES:
        (reports / name).write_text("an earlier run's result", encoding="utf-8")
    (reports / "repro").mkdir()
    (reports / "repro" / "f9-old.sh").write_text("echo old", encoding="utf-8")
    (reports / "reliability.json").write_text("{}", encoding="utf-8")  # not a report: kept


@pytest.fixture(scope="module", params=sorted(CASES))
def stopped(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Run]:
    how = request.param
    directory = tmp_path_factory.mktemp(f"stopped-{how}")
    (directory / "conftest.py").write_text(SYNTHETIC_CONFTEST)
    (directory / "test_synthetic.py").write_text(textwrap.dedent(TESTS))
    _earlier_run(directory / "reports")
    result = run([PYTHON, "-m", "pytest", "-p", "no:cacheprovider",
                  "--junitxml=reports/junit.xml", *CASES[how][0], "test_synthetic.py"],
                 cwd=directory, env={"STOP": how, "LD_API_TOKEN": "writer-token-0123456789",
                                     "LD_PROJECT_KEY": "default", "LD_ENVIRONMENT_KEY": "test"},
                 timeout=120)
    return how, directory / "reports", result


def _junit(reports: Path) -> dict[str, list[str]]:
    properties: dict[str, list[str]] = {}
    suite = next(ET.parse(reports / "junit.xml").iter("testsuite"))
    for prop in suite.iter("property"):
        properties.setdefault(prop.get("name", ""), []).append(prop.get("value", ""))
    return properties


def _overview(markdown: str) -> dict[str, str]:
    rows = [line.strip("|").split(" | ") for line in markdown.splitlines()
            if line.startswith("| ") and line.count(" | ") == 1]
    return {key.strip(): value.strip() for key, value in rows}


def test_it_is_incomplete_in_all_five_outputs(stopped: tuple[str, Path, Run]) -> None:
    how, reports, result = stopped
    _, status, reason, cut_short = CASES[how]
    assert result.returncode == status, result.output
    expected = reason + (f" (during {STOPPING})" if cut_short else "")
    summary = result.output.split("contract conformance", 1)[1]
    assert f"INCOMPLETE: {expected}." in summary
    assert "not run: tier2: " in summary and "tier3: 1 tests" in summary
    markdown = (reports / "conformance.md").read_text(encoding="utf-8")
    assert markdown.splitlines()[2].startswith(f"**INCOMPLETE: {expected}.")
    assert _overview(markdown)["status"] == f"INCOMPLETE: {expected}"
    assert "| tier2 | `getSegment` | 1 |" in markdown and "| tier2 | `postSegment` | 1 |" \
        in markdown and "| tier3 | `(several operations)` | 1 |" in markdown
    page = (reports / "conformance.html").read_text(encoding="utf-8")
    assert re.search(r'<p class="banner incomplete">INCOMPLETE: ' + re.escape(expected), page)
    results = json.loads((reports / "results.json").read_text(encoding="utf-8"))
    assert (results["status"], results["incomplete_reason"]) == ("incomplete", expected)
    not_run = {(n["tier"], n["operation"]): n["tests"] for n in results["not_run"]}
    assert not_run == {("tier2", "getSegment"): 1, ("tier2", "postSegment"): 1,
                       ("tier3", "(several operations)"): 1,
                       **({("tier2", "patchExpiringTargets"): 1} if cut_short else {})}
    junit = _junit(reports)
    assert junit["status"] == ["incomplete"] and junit["incomplete"] == [expected]
    assert sorted(junit["not-run"]) == sorted(f"{t} {o}: {n}" for (t, o), n in not_run.items())


def test_a_stopped_test_is_no_contract_failure(stopped: tuple[str, Path, Run]) -> None:
    how, reports, _ = stopped
    results = json.loads((reports / "results.json").read_text(encoding="utf-8"))
    assert [f["rule"] for f in results["failures"]] == (
        ["AssertionError"] if how == "maxfail" else [])


def test_the_totals_agree_in_every_output(stopped: tuple[str, Path, Run]) -> None:
    how, reports, result = stopped
    totals = json.loads((reports / "results.json").read_text(encoding="utf-8"))["totals"]
    tests = totals["tests"]
    assert tests["total"] == 5 and tests["passed"] == 1 and tests["not_run"] == (
        4 if CASES[how][3] else 3)
    text = f"{tests['total']} (" + ", ".join(
        f"{tests[key]} {key.replace('_', ' ')}" for key in
        ("passed", "failed", "infra", "skipped", "not_run") if tests[key]) + ")"
    assert f"tests: {text}; operation checks (tier 1): 0 (none)" in result.output
    assert _overview((reports / "conformance.md").read_text(encoding="utf-8"))["tests"] == text
    assert f"<td>tests</td><td>{text}</td>" in (reports / "conformance.html").read_text()
    junit = _junit(reports)
    assert [junit[f"tests-{k.replace('_', '-')}"] for k in tests if k != "total"] == [
        [str(tests[k])] for k in tests if k != "total"]
    assert junit["tests"] == [str(tests["total"])]


def test_no_report_of_the_earlier_run_survives(stopped: tuple[str, Path, Run]) -> None:
    _, reports, _ = stopped
    assert not (reports / "repro" / "f9-old.sh").exists()
    for name in REPORT_FILES:
        assert "an earlier run's result" not in (reports / name).read_text(encoding="utf-8")
    assert (reports / "reliability.json").is_file()


def test_a_configuration_error_removes_the_earlier_reports(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    _earlier_run(reports)
    result = run([PYTHON, "-m", "pytest", str(ROOT / "contract_tests"), "-p", "no:cacheprovider",
                  "--base-url", "ftp://example.invalid", f"--reports-dir={reports}"],
                 cwd=tmp_path, timeout=120)
    assert result.returncode == 4, result.output
    assert "is not an http(s) URL" in result.output
    assert sorted(p.name for p in reports.iterdir()) == ["reliability.json"]
