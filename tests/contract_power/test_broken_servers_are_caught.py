"""Proof of power: the contract suite catches every deliberately broken server.

Each broken server (tests/contract_power/broken.py) breaks one rule; the suite runs against it
in its own process, with few examples, stopping at the first failure without shrinking it
(--no-shrink), and must fail naming that rule. A server whose break a tier-2 rule names runs
without tier 1 (Schemathesis' generation is most of a run's time, and tier 2 must catch it on
its own: some of them tier 1 would catch first); one that only tier 1 can name runs whole. The
correct mock passing with zero failures is the suite's own default run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .broken import BREAKS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = "10"


def _run_of(markers: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(extra pytest arguments, what must be named): tier 2 alone where a rule names it."""
    rules = tuple(m for m in markers if m.startswith("["))
    return (("-m", "not tier1"), rules) if rules else ((), markers)


# run id -> (broken server, pytest arguments beyond the common ones, what must be named)
RUNS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    name: (name, *_run_of(markers)) for name, markers in BREAKS.items()}


def _run_suite(run: str, reports: Path) -> subprocess.CompletedProcess[str]:
    name, extra, _ = RUNS[run]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LD_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "contract_tests", "-x", "-q", "-p", "no:cacheprovider",
         "--app", f"tests.contract_power.broken:{name}", "--examples", EXAMPLES,
         "--hypothesis-seed", "0", "--no-shrink", "--reports-dir", str(reports / run),
         *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, subprocess.CompletedProcess[str]]:
    reports = tmp_path_factory.mktemp("reports")
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = pool.map(lambda run: _run_suite(run, reports), RUNS)
        return dict(zip(RUNS, done, strict=True))


@pytest.mark.parametrize("run", sorted(RUNS))
def test_broken_server_is_caught(run: str, outcomes: dict[str, subprocess.CompletedProcess[str]]
                                 ) -> None:
    result = outcomes[run]
    output = result.stdout + result.stderr
    assert result.returncode == 1, f"{run}: suite exited {result.returncode}\n{output[-3000:]}"
    expected = RUNS[run][2]
    assert any(marker in output for marker in expected), (
        f"{run}: the suite failed, but not on {expected}:\n{output[-3000:]}"
    )
