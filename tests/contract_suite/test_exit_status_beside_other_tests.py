"""The session's exit status when the suite runs beside other tests (as in `make test`): a known
deviation of the suite does not fail it, a failing test outside the suite does, in one process
and on pytest-xdist workers alike (the controller collects no items: it judged by those once,
and a failure outside the suite exited 0)."""

from __future__ import annotations

from pathlib import Path

import pytest
from suite_helpers import SYNTHETIC_TESTS, synthetic_pytest

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
    for folder, source in (("suite", SYNTHETIC_TESTS), ("other", f"def test_other():\n    {other}\n")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"test_{folder}.py").write_text(source)
    (tmp_path / "known.yaml").write_text(KNOWN)

    result = synthetic_pytest(tmp_path, [*workers, "suite", "other"], "--known known.yaml",
                              env={"SYNTHETIC_ROOT": "suite"})

    assert result.returncode == status, result.output
    assert "KNOWN suite/test_suite.py::test_counts[patchExpiringTargets]" in result.output
