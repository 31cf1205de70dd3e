"""Helpers of the contract-suite tests: pytest sessions and the runner in a subprocess.

Synthetic sessions run as ``python -m pytest`` in a temporary directory with the project on
``PYTHONPATH`` rather than through ``pytester``: enabling it takes ``pytest_plugins`` in a
conftest, which pytest only allows at the top level, and ``tests/contract_suite`` is not one
when ``make test`` collects ``tests/``.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "PYTHON", "ROOT", "SYNTHETIC_CONFTEST", "SYNTHETIC_TESTS", "Run", "files_containing",
    "recognisable_token", "run", "synthetic_pytest", "synthetic_session",
    "synthetic_session_with_file",
]

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
# what the suite reads from the environment; each test sets what it needs
SUITE_ENVIRONMENT = ("LD_BASE_URL", "LD_API_TOKEN", "LD_API_TOKEN_READONLY", "LD_PROJECT_KEY",
                     "LD_ENVIRONMENT_KEY")


# The conftest of a synthetic session: the report plugin against a made-up live target, with
# the recorder as a fixture (tests record exchanges as the suite's transport would, and the
# checks tell it which rules they check). `SYNTHETIC_OPTIONS` adds suite options (--known ...);
# `SYNTHETIC_ROOT` names the folder whose tests the plugin reports (default: every test).
SYNTHETIC_CONFTEST = '''
import os
import shlex
from pathlib import Path

import pytest

from contract_tests import checks
from contract_tests.recorder import Recorder
from contract_tests.report import ConformanceReport
from contract_tests.run import suite_options
from contract_tests.settings import ConfigurationError, settings_from

RECORDER = pytest.StashKey[Recorder]()


def pytest_configure(config):
    for marker in ("tier1", "tier2", "tier3", "stateful"):
        config.addinivalue_line("markers", marker)
    try:
        settings = settings_from(suite_options([
            "--base-url", "http://127.0.0.1:9", "--examples", "5", "--reports-dir", "reports",
            *shlex.split(os.environ.get("SYNTHETIC_OPTIONS", ""))]))
    except ConfigurationError as exc:
        raise pytest.UsageError(f"contract suite: {exc}") from None
    config.stash[RECORDER] = Recorder.for_tokens(settings.token, settings.readonly_token)
    checks.listen(config.stash[RECORDER].rule_checked)
    root = os.environ.get("SYNTHETIC_ROOT")
    config.pluginmanager.register(ConformanceReport(
        settings, config.stash[RECORDER], seed=1234, root=Path(root).resolve() if root else None,
    ), "report")


@pytest.fixture
def recorder(pytestconfig):
    return pytestconfig.stash[RECORDER]
'''


# Tests of a synthetic session: two contract violations (instruction-counts on
# patchExpiringTargets, error-indices on patchExpiringUserTargets) and a test that passes.
SYNTHETIC_TESTS = textwrap.dedent('''
    import pytest

    from contract_tests.checks import ContractViolation


    @pytest.mark.tier2
    @pytest.mark.parametrize("operation_id", ["patchExpiringTargets"])
    def test_counts(operation_id):
        raise ContractViolation("instruction-counts", "totalInstructions 0, but 1 were sent")


    @pytest.mark.tier2
    @pytest.mark.parametrize("operation_id", ["patchExpiringUserTargets"])
    def test_indices(operation_id):
        raise ContractViolation("error-indices", "instructionIndex 7 is not in 0..0")


    @pytest.mark.tier2
    @pytest.mark.parametrize("operation_id", ["getSegment"])
    def test_fine(operation_id):
        pass
''')


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str  # stdout and stderr, interleaved


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 300) -> Run:
    environ = {k: v for k, v in os.environ.items() if k not in SUITE_ENVIRONMENT}
    environ.update({"PYTHONPATH": str(ROOT), **(env or {})})
    done = subprocess.run(args, cwd=cwd, env=environ, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
    return Run(done.returncode, done.stdout)


def synthetic_session(directory: Path, tests: str, options: str = "",
                      env: dict[str, str] | None = None) -> Run:
    """Run `tests` (a test module's source) as a synthetic session in `directory`, with the
    suite options `options`; its reports go to `directory`/reports."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "test_synthetic.py").write_text(tests)
    return synthetic_pytest(directory, ["--junitxml=reports/junit.xml", "test_synthetic.py"],
                            options, env)


def synthetic_pytest(directory: Path, args: list[str], options: str = "",
                     env: dict[str, str] | None = None) -> Run:
    """pytest with `args` in `directory` (its test files already there) under the synthetic
    conftest, with the suite options `options`."""
    (directory / "conftest.py").write_text(SYNTHETIC_CONFTEST)
    return run([PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args], cwd=directory,
               env={"LD_API_TOKEN": "synthetic-token", "LD_PROJECT_KEY": "default",
                    "LD_ENVIRONMENT_KEY": "test", "SYNTHETIC_OPTIONS": options, **(env or {})})


def synthetic_session_with_file(tests: str, option: str, name: str, text: str) -> Any:
    """A module-scoped fixture of (the reports directory, the run) of one synthetic session of
    `tests` given the file `name`, holding `text`, through the suite option `option` (``--known``,
    ``--require-coverage``): the tests of one session's reports share the run."""

    @pytest.fixture(scope="module")
    def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run]:
        directory = tmp_path_factory.mktemp(Path(name).stem)
        (directory / name).write_text(text)
        return directory / "reports", synthetic_session(directory, tests, f"{option} {name}")

    return session


def recognisable_token() -> str:
    """A token nobody could mistake for anything else, to grep for."""
    return f"SECRET-TOKEN-{secrets.token_hex(8)}"


def files_containing(directory: Path, needle: str) -> list[Path]:
    return sorted(p for p in directory.rglob("*")
                  if p.is_file() and needle.encode() in p.read_bytes())


def resources_left(db: Path) -> list[str]:
    """Segments and flags with the suite's prefix in a mock's store (read-only; WAL lets a
    reader in while the server runs)."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [row[0] for table in ("segments", "flags")
                for row in connection.execute(f"SELECT key FROM {table} WHERE key LIKE 'ct-%'")]
    finally:
        connection.close()
