"""Proof of power: the contract suite catches every deliberately broken server.

Each broken server (tests/contract_power/broken.py) breaks one rule; the whole suite runs
against it in its own process, with few examples, stopping at the first failure without
shrinking it (--no-shrink), and must fail naming that rule. The correct mock passing with zero failures is the suite's own default run.
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
EXAMPLES = "15"


def _run_suite(name: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LD_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "contract_tests", "-x", "-q", "-p", "no:cacheprovider",
         "--app", f"tests.contract_power.broken:{name}", "--examples", EXAMPLES,
         "--hypothesis-seed", "0", "--no-shrink", "--reports-dir", os.devnull + "-reports"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )


@pytest.fixture(scope="module")
def outcomes() -> dict[str, subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(BREAKS, pool.map(_run_suite, BREAKS), strict=True))


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_broken_server_is_caught(name: str, outcomes: dict[str, subprocess.CompletedProcess[str]]
                                 ) -> None:
    result = outcomes[name]
    output = result.stdout + result.stderr
    assert result.returncode == 1, f"{name}: suite exited {result.returncode}\n{output[-3000:]}"
    expected = BREAKS[name]
    assert any(marker in output for marker in expected), (
        f"{name}: the suite failed, but not on {expected}:\n{output[-3000:]}"
    )
