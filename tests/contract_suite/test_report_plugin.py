"""The report plugin in a small synthetic pytest session: reports, JUnit properties, no secret."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from suite_helpers import (
    PYTHON,
    SYNTHETIC_CONFTEST,
    Run,
    files_containing,
    recognisable_token,
    run,
)

TESTS = '''
import os

import httpx
import pytest
from hypothesis import given, settings, strategies as st

from contract_tests.checks import ContractViolation

TOKEN = os.environ["LD_API_TOKEN"]
PATCH = "http://127.0.0.1:9/api/v2/flags/default/f/expiring-targets/test"


@pytest.mark.tier1
@pytest.mark.parametrize("operation_id", ["getSegment"])
def test_passes(operation_id):
    pass


@pytest.mark.tier2
@pytest.mark.parametrize("operation_id", ["patchExpiringTargets"])
def test_counts(operation_id, recorder):
    body = {"instructions": [{"kind": "addExpiringTarget", "note": TOKEN}]}
    request = httpx.Request("PATCH", PATCH, json=body, headers={
        "Authorization": TOKEN,
        "Content-Type": "application/json; domain-model=launchdarkly.semanticpatch"})
    recorder.record(request, httpx.Response(200, request=request, json={
        "items": [], "totalInstructions": 0, "errors": [{"instructionIndex": 0, "message": TOKEN}]}))
    print("the token is", TOKEN)
    raise ContractViolation("instruction-counts", f"totalInstructions 0, but 1 were sent {TOKEN}")


@pytest.mark.stateful
def test_two_failures_at_once():
    raise ExceptionGroup("two", [ContractViolation("error-indices", "index 7 out of range"),
                                 ContractViolation("successful-take-effect", "GET shows nothing")])


@pytest.mark.tier2
@pytest.mark.parametrize("operation_id", ["getSegment"])
def test_plain_assertion(operation_id):
    assert TOKEN == "something else"


@pytest.mark.tier3
def test_skipped():
    pytest.skip("tier 3 runs only against the kit's mock")


@pytest.mark.tier2
@settings(max_examples=5, database=None)
@given(st.integers())
def test_examples(n):
    pass
'''


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run, str]:
    directory = tmp_path_factory.mktemp("synthetic")
    (directory / "conftest.py").write_text(SYNTHETIC_CONFTEST)
    (directory / "test_synthetic.py").write_text(textwrap.dedent(TESTS))
    token = recognisable_token()
    result = run([PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-vv",
                  "--junitxml=reports/junit.xml", "test_synthetic.py"],
                 cwd=directory, env={"LD_API_TOKEN": token, "LD_PROJECT_KEY": "default",
                                     "LD_ENVIRONMENT_KEY": "test"})
    return directory, result, token


def test_the_session_fails_as_its_tests_do(session: tuple[Path, Run, str]) -> None:
    _, result, _ = session
    assert result.returncode == 1, result.output


def test_no_secret_in_output_or_any_file(session: tuple[Path, Run, str]) -> None:
    directory, result, token = session
    assert token not in result.output
    assert files_containing(directory, token) == []
    assert "***" in result.output  # it was there, and was replaced


def test_the_markdown_report_has_the_matrix_and_every_failure(
    session: tuple[Path, Run, str],
) -> None:
    directory, _, _ = session
    text = (directory / "reports" / "conformance.md").read_text()
    assert "| target | http://127.0.0.1:9 |" in text
    assert "| [`getSegment`](#coverage-getsegment) | 1 passed | 1 failed | · | · |" in text
    assert ("| [`patchExpiringTargets`](#coverage-patchexpiringtargets) | · | 1 failed | · | · |"
            in text)
    assert "| [`(several operations)`](#coverage) | · | 1 passed | 1 failed | 1 skipped |" in text
    assert "| **all** | 1 passed | 1 passed, 2 failed | 1 failed | 1 skipped |" in text
    assert "## Failures (4)" in text
    for rule in ("instruction-counts", "error-indices", "successful-take-effect",
                 "AssertionError"):
        assert f"- rule: {rule}" in text
    assert '-H "Authorization: $LD_API_TOKEN"' in text  # the recorded exchange, as curl
    assert "| instruction outcomes | `addExpiringTarget failed` | 1 |" in text
    assert "| instruction outcomes | `addExpiringTarget succeeded` | **never** |" in text
    assert "| examples run | 5 " in text  # counted from Hypothesis' statistics
    assert (directory / "reports" / "conformance.html").read_text().startswith("<!DOCTYPE")


def test_junit_properties_name_operation_tier_and_rule(session: tuple[Path, Run, str]) -> None:
    directory, _, _ = session
    tree = ET.parse(directory / "reports" / "junit.xml")
    props = {
        case.get("name"): [(p.get("name"), p.get("value")) for p in case.iter("property")]
        for case in tree.iter("testcase")
    }
    assert props["test_counts[patchExpiringTargets]"] == [
        ("operation", "patchExpiringTargets"), ("tier", "tier2"), ("rule", "instruction-counts")]
    assert props["test_two_failures_at_once"] == [
        ("operation", "(several operations)"), ("tier", "stateful"),
        ("rule", "error-indices"), ("rule", "successful-take-effect")]
    assert props["test_passes[getSegment]"] == [("operation", "getSegment"), ("tier", "tier1")]


def test_the_terminal_summary_gives_tiers_and_report_paths(
    session: tuple[Path, Run, str],
) -> None:
    _, result, _ = session
    summary = result.output.split("contract conformance", 1)[1]
    assert "tier1: 1 passed | tier2: 1 passed, 2 failed | stateful: 1 failed | " \
           "tier3: 1 skipped" in summary
    assert "examples/s" in summary and "reports/conformance.md" in summary
