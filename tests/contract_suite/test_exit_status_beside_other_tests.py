"""The session's exit status when the suite runs beside other tests (as in `make test`): a known
deviation of the suite does not fail it, a failing test outside the suite does, in one process
and on pytest-xdist workers alike (the controller collects no items: it judged by those once,
and a failure outside the suite exited 0)."""

from __future__ import annotations

from pathlib import Path

import pytest
from suite_helpers import PYTHON, SYNTHETIC_CONFTEST, SYNTHETIC_TESTS, run

SUITE_ROOT_CONFTEST = SYNTHETIC_CONFTEST.replace(
    "import os\n", "import os\nfrom pathlib import Path\n", 1).replace(
    "ConformanceReport(settings, config.stash[RECORDER], seed=1234)",
    'ConformanceReport(settings, config.stash[RECORDER], seed=1234,'
    ' root=Path(__file__).resolve().parent / "suite")', 1)


KNOWN = """\
known:
  - rule: instruction-counts
    operation: patchExpiringTargets
    reason: "PROJ-1: counts are off by one"
  - rule: error-indices
    operation: patchExpiringUserTargets
    reason: "PROJ-2: indices start at 1"
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "two-workers"])
@pytest.mark.parametrize(("other", "status"), [("assert 1 + 1 == 3", 1), ("pass", 0)],
                         ids=["other-test-fails", "other-test-passes"])
def test_only_a_failure_outside_the_suite_fails_a_run_whose_failures_are_known(
        tmp_path: Path, workers: list[str], other: str, status: int) -> None:
    assert SUITE_ROOT_CONFTEST.count('/ "suite"') == 1  # the replacement took
    (tmp_path / "conftest.py").write_text(SUITE_ROOT_CONFTEST)
    for folder, source in (("suite", SYNTHETIC_TESTS), ("other", f"def test_other():\n    {other}\n")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"test_{folder}.py").write_text(source)
    (tmp_path / "known.yaml").write_text(KNOWN)

    result = run([PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-q", *workers,
                  "suite", "other"], cwd=tmp_path,
                 env={"LD_API_TOKEN": "synthetic-token", "LD_PROJECT_KEY": "default",
                      "LD_ENVIRONMENT_KEY": "test", "SYNTHETIC_OPTIONS": "--known known.yaml"},
                 timeout=120)

    assert result.returncode == status, result.output
    assert "KNOWN suite/test_suite.py::test_counts[patchExpiringTargets]" in result.output
