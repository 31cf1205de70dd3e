"""No collateral damage: against a live-like target that holds other people's segments, flags,
targets and schedules, the suite changes none of them and leaves none of its own behind --
after a passing run, after a failing one, and after Ctrl-C or SIGTERM in the middle of a run.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
from live_safety_helpers import (
    Scenario,
    changed,
    record,
    running_mock,
    seed_existing,
    snapshot,
    start_suite,
    stop_process,
    suite_command,
    suite_keys_now,
    suite_leftovers,
)

pytestmark = pytest.mark.slow


def _assert_no_trace(scenario: Scenario) -> None:
    assert scenario.changed == [], f"pre-existing resources changed: {scenario.changed}"
    assert scenario.leftovers == [], f"the suite left: {scenario.leftovers}"


def test_a_passing_live_run_touches_nothing_else_and_leaves_nothing(clean_run: Scenario) -> None:
    run = clean_run.run
    assert run.returncode == 0, run.output[-3000:]
    assert re.search(r"tier3: \d+ skipped\n", run.output), "tier 3 ran against a live target"
    _assert_no_trace(clean_run)
    record("collateral_passing_run", clean_run.figures())


def test_a_failing_live_run_touches_nothing_else_and_leaves_nothing(
    failing_run: Scenario,
) -> None:
    run = failing_run.run
    assert run.returncode == 1, run.output[-3000:]
    failures = run.count("contract failures")
    assert failures > 0
    assert failing_run.proxy.get("broken: totalInstructions", 0) > 0
    _assert_no_trace(failing_run)
    record("collateral_failing_run", {**failing_run.figures(), "contract_failures": failures})


@pytest.mark.parametrize(("name", "signum", "after_s"), [
    ("sigint-while-provisioning", signal.SIGINT, 0.0),
    ("sigint-during-schemathesis", signal.SIGINT, 2.0),
    ("sigterm-during-schemathesis", signal.SIGTERM, 2.0),
])
def test_an_interrupted_live_run_leaves_nothing(tmp_path: Path, name: str, signum: int,
                                                after_s: float) -> None:
    """The suite as a subprocess; as soon as its first segment or flag is in the store (plus
    `after_s`), the signal; then it must exit within a minute, having deleted everything."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    with running_mock(tmp_path) as server:
        existing = seed_existing(server.base_url)
        before = snapshot(server.base_url, existing.paths)
        started = time.monotonic()
        process = start_suite(suite_command(server.base_url, workdir), workdir)
        try:
            while suite_keys_now(server.db) == 0:
                assert process.poll() is None, "the suite ended before creating anything"
                assert time.monotonic() - started < 120, "nothing created in 120 s"
                time.sleep(0.02)
            first_s = time.monotonic() - started
            time.sleep(after_s)
            present = suite_keys_now(server.db)
            signalled = time.monotonic()
            os.kill(process.pid, signum)
            returncode = process.wait(timeout=60)
            exit_s = time.monotonic() - signalled
        finally:
            stop_process(process)
        after = snapshot(server.base_url, existing.paths)
    output = (workdir / "suite-output.txt").read_text(errors="replace")
    leftovers = suite_leftovers(server.db, existing)
    figures = {"returncode": returncode, "first_resource_s": round(first_s, 2),
               "signal_after_first_s": after_s, "suite_resources_at_signal": present,
               "exit_s_after_signal": round(exit_s, 2), "suite_resources_left": len(leftovers),
               "preexisting_gets_changed": len(changed(before, after))}
    record(f"interrupted_{name.replace('-', '_')}", figures)
    assert returncode == 2, output[-3000:]  # pytest: interrupted, not run to the end
    assert leftovers == [], leftovers
    assert changed(before, after) == []
