"""`make contract` and its runner: fail fast on a bad target, never leak the token (each bad
configuration of a live target: test_preflight.py)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from suite_helpers import PYTHON, ROOT, Run, files_containing, recognisable_token, run

from contract_tests.run import mock_server
from contract_tests.settings import MAKE_VARIABLES


def _contract_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("contract:")]


def _assert_one_clear_line(output: str, expected: str) -> None:
    lines = _contract_lines(output)
    assert len(lines) == 1 and expected in lines[0], output
    for noise in ("Traceback", "FAILED", "Error:", "test session starts"):
        assert noise not in output, output


@pytest.fixture(scope="module")
def token() -> str:
    return recognisable_token()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, token: str) -> Iterator[str]:
    """The kit's mock as a real process, also accepting the recognisable token."""
    with mock_server(tmp_path_factory.mktemp("mock"), extra_writer_tokens=[token]) as url:
        yield url


def test_make_contract_against_an_unreachable_url_fails_fast_with_one_line(
    tmp_path: Path,
) -> None:
    if subprocess.run(["make", "-q", "install"], cwd=ROOT, check=False).returncode != 0:
        pytest.skip("the venv is not up to date; `make contract` would rebuild it")
    started = time.monotonic()
    result = run(["make", "-s", "contract", "BASE_URL=http://127.0.0.1:1"], cwd=ROOT,
                 env={"LD_API_TOKEN": "any-token", "LD_PROJECT_KEY": "default",
                      "LD_ENVIRONMENT_KEY": "test"})
    assert result.returncode != 0
    assert time.monotonic() - started < 30
    _assert_one_clear_line(result.output, "http://127.0.0.1:1: cannot reach it")


def test_a_missing_token_for_a_live_url_is_one_line(tmp_path: Path) -> None:
    result = run([PYTHON, "-m", "contract_tests.run", "--base-url", "http://127.0.0.1:1"],
                 cwd=tmp_path)
    assert result.returncode == 4
    _assert_one_clear_line(result.output, "LD_API_TOKEN is not set")


# (variable, option, value, more arguments, what the line says to give): each as `make contract
# VARIABLE=value` passes it on, refused before the mock starts or anything is sent
BAD_SETTINGS = [
    ("EXAMPLES", "--examples", "0", (), "give a whole number of examples per test, 1 or more"),
    ("EXAMPLES", "--examples", "abc", (), "give a whole number of examples per test"),
    ("RATE", "--rate", "0", (), "give a number of requests per second above 0"),
    ("RATE", "--rate", "abc", (), "give a number of requests per second above 0"),
    ("MAX_REQUESTS", "--max-requests", "abc", (), "give a whole number of requests, 50 or more"),
    ("MAX_REQUESTS", "--max-requests", "0", (), "give a whole number of requests, 50 or more"),
    ("SEED", "--seed", "abc", (), "give a whole number"),
    ("WORKERS", "--workers", "abc", ("--plan",), "give a number of workers (1, 2, ...) or auto"),
    ("TIERS", "--tiers", "9", (), "9 is not one of 1, 2, 3"),
]
LIVE = {"LD_API_TOKEN": "any-token", "LD_PROJECT_KEY": "default", "LD_ENVIRONMENT_KEY": "test"}
TARGETS = {"the mock process": ([], {}), "a base URL": (["--base-url", "http://127.0.0.1:1"], LIVE)}


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize(("variable", "option", "value", "more", "give"), BAD_SETTINGS,
                         ids=[f"{case[0]}={case[2]}" for case in BAD_SETTINGS])
def test_a_bad_setting_is_one_line_naming_its_variable(
        target: str, variable: str, option: str, value: str, more: tuple[str, ...], give: str,
        tmp_path: Path) -> None:
    where, env = TARGETS[target]
    result = run([PYTHON, "-m", "contract_tests.run", *where, option, value, *more,
                  "--reports-dir", str(tmp_path / "reports")], cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 4, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"contract: {variable}={value} ({option}): {give}"), result.output
    assert "usage:" not in result.output and "Traceback" not in result.output


def test_an_unknown_option_is_one_line_without_the_usage(tmp_path: Path) -> None:
    result = run([PYTHON, "-m", "contract_tests.run", "--no-such"], cwd=tmp_path, timeout=60)
    assert result.returncode == 4, result.output
    assert result.output.strip() == "contract: unrecognized arguments: --no-such", result.output


def test_the_make_variables_table_is_the_makefiles() -> None:
    """Every `$(if $(VARIABLE),--option …)` of the contract target, and no other, in the table
    the one-line messages name the variables from."""
    recipe = next(line for line in (ROOT / "Makefile").read_text().splitlines()
                  if "-m contract_tests.run" in line)
    passed = {option: variable
              for variable, option in re.findall(r"\$\(if \$\((\w+)\),(--[\w-]+)", recipe)}
    assert passed == MAKE_VARIABLES


@pytest.fixture(scope="module")
def session(server: str, token: str, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[Path, Run]:
    """A real session against the mock process with a recognisable token and the shipped
    coverage gate, at two examples per test: (its directory, the run)."""
    directory = tmp_path_factory.mktemp("session")
    reports = directory / "reports"
    result = run([PYTHON, "-m", "pytest", "contract_tests", "-p", "no:cacheprovider", "-rA",
                  "--base-url", server, "--kit-mock", "--examples", "2",
                  "--require-coverage", str(ROOT / "contract_tests" / "coverage-default.yaml"),
                  f"--junitxml={reports / 'junit.xml'}", f"--reports-dir={reports}"],
                 cwd=ROOT, env={"LD_API_TOKEN": token})
    return directory, result


def test_a_contract_session_never_shows_the_token(session: tuple[Path, Run],
                                                   token: str) -> None:
    """Every line printed and every file written (reports, JUnit) is free of the token."""
    directory, result = session
    assert result.returncode in (0, 1), result.output  # the tests ran
    reports = directory / "reports"
    assert (reports / "conformance.md").is_file() and (reports / "junit.xml").is_file()
    assert token not in result.output
    assert files_containing(directory, token) == []
    assert "contract conformance" in result.output


def test_the_kits_mock_meets_the_shipped_default_gate(session: tuple[Path, Run]) -> None:
    """What the default gate lists must not depend on what Hypothesis draws: two examples per
    test against the mock as a process (what `make contract` tests) reach all of it."""
    directory, result = session
    assert result.returncode == 0, result.output[-3000:]
    gate = json.loads((directory / "reports" / "results.json").read_text())["coverage_gate"]
    assert gate["gaps"] == [] and gate["file"].endswith("coverage-default.yaml")


def test_a_contract_session_warns_of_nothing_and_junit_keeps_the_stateful_figures(
        session: tuple[Path, Run]) -> None:
    """A team's run prints no pytest warning of the suite's own making (``record_property``
    warns under JUnit's xunit2 family), and the stateful run's size still reaches junit.xml."""
    directory, result = session
    assert "PytestWarning" not in result.output, result.output[-3000:]
    junit = (directory / "reports" / "junit.xml").read_text(encoding="utf-8")
    assert 'name="stateful_runs"' in junit and 'name="stateful_steps"' in junit
