"""A real failing run shared by the tests that need one: the whole suite in-process against a
broken server (tests/contract_power/broken.py: `wrong_counts`), narrowed to the two tests that
catch it, with a known-deviations file that accepts one of the two failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from suite_helpers import PYTHON, ROOT, Run, run

KNOWN = """\
known:
  - rule: instruction-counts
    operation: patchExpiringTargets
    match: totalInstructions
    reason: "PROJ-7: the flag endpoint counts one instruction too many"
"""


@pytest.fixture(scope="session")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run]:
    """(its reports directory, the run): two contract failures, the first one known."""
    directory = tmp_path_factory.mktemp("broken")
    (directory / "known.yaml").write_text(KNOWN)
    reports = directory / "reports"
    result = run([PYTHON, "-m", "pytest", "contract_tests", "-p", "no:cacheprovider", "-q",
                  "--app", "tests.contract_power.broken:wrong_counts", "--no-shrink",
                  "--examples", "5", "--hypothesis-seed", "5",
                  "-k", "test_instructions_succeed_or_fail_as_documented and patchExpiringTargets",
                  "--known", str(directory / "known.yaml"), f"--reports-dir={reports}"],
                 cwd=ROOT)
    return reports, result
