"""The project's own code passes ruff and mypy (what ``make lint`` runs), and a check naming a
rule the specs do not have fails mypy: rule ids are the generated ``RuleId`` literal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("generator", "mock_server", "contract_tests", "proxy", "fidelity")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "--no-cache", *PACKAGES, "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing_and_catches_a_misspelt_rule(tmp_path: Path) -> None:
    cache = str(tmp_path / "mypy-cache")
    result = _run("mypy", "--cache-dir", cache, *PACKAGES)
    assert result.returncode == 0, result.stdout + result.stderr

    typo = tmp_path / "typo_check.py"
    typo.write_text("from contract_tests.checks import ContractViolation, checked\n\n"
                    "checked('views-agree')\n"
                    "checked('views-agre')\n"
                    "ContractViolation('instruction-count', 'x')\n", encoding="utf-8")
    result = _run("mypy", "--cache-dir", cache, str(typo))
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["4", "5"], result.stdout
