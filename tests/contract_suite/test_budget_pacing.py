"""The request budget, the plan and the pacing of a live run (contract_tests/budget.py,
pacing.py), against the kit's mock as a real process on 127.0.0.1: requests are counted at the
server (``/_admin/requests``), 429s in the suite's own summary."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from suite_helpers import PYTHON, resources_left, run

from contract_tests.interrupts import INTERRUPTS
from contract_tests.pacing import BudgetSpent, Pacer
from contract_tests.run import write_mock_config
from contract_tests.settings import MOCK_READER_TOKEN, MOCK_WRITER_TOKEN
from contract_tests.shared_budget import SharedBudget
from generated.operations import OPERATIONS
from mock_server.process import MockProcess

ENV = {"LD_API_TOKEN": MOCK_WRITER_TOKEN, "LD_API_TOKEN_READONLY": MOCK_READER_TOKEN,
       "LD_PROJECT_KEY": "default", "LD_ENVIRONMENT_KEY": "test"}


# -- the pacer on its own, on a fake clock ------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _pacer(**kwargs: object) -> tuple[Pacer, FakeTime]:
    fake = FakeTime()
    return Pacer(sleep=fake.sleep, clock=lambda: fake.now, wall=lambda: fake.now,
                 **kwargs), fake  # type: ignore[arg-type]


def test_the_pacer_waits_for_the_advertised_window_instead_of_a_429() -> None:
    pacer, fake = _pacer()
    pacer.before_send("GET /a", "token")
    pacer.after_answer({"x-ratelimit-global-remaining": "1",
                        "x-ratelimit-reset": str(int((fake.now + 4) * 1000))}, "token")
    pacer.before_send("GET /b", "token")  # the last one of the window: no wait
    assert fake.slept == []
    pacer.before_send("GET /c", "other-token")  # another credential, another window
    assert fake.slept == []
    pacer.before_send("GET /d", "token")  # nothing left: wait for the reset
    assert fake.slept and 4.0 <= fake.slept[0] <= 4.1
    assert pacer.sent == 4


def test_the_rate_cap_spaces_requests_evenly() -> None:
    pacer, fake = _pacer(rate=4.0)
    for _ in range(5):
        pacer.before_send("GET /x", None)
    assert fake.slept == pytest.approx([0.25] * 4)


def test_a_spent_budget_stops_the_tests_but_not_the_cleanup() -> None:
    pacer, _ = _pacer(max_requests=10, cleanup_cost=lambda: 3, uncounted=2)
    for _ in range(5):
        pacer.before_send("GET /x", None)
    with pytest.raises(BudgetSpent, match="budget of 10 spent"):
        pacer.before_send("GET /y", None)
    with INTERRUPTS.cleaning():
        for _ in range(5):
            pacer.before_send("DELETE /z", None)
        with pytest.raises(BudgetSpent):
            pacer.before_send("DELETE /z", None)
    assert pacer.sent == 10


# -- the plan -------------------------------------------------------------------------------------


def test_plan_prints_the_tests_and_the_estimate_and_sends_nothing(tmp_path: Path) -> None:
    result = run([PYTHON, "-m", "contract_tests.run", "--base-url", "http://127.0.0.1:9",
                  "--max-requests", "500", "--plan", "--reports-dir", str(tmp_path)],
                 cwd=tmp_path, env=ENV, timeout=120)
    assert result.returncode == 0, result.output
    estimate = int(re.search(r"about (\d+) requests \(budget 500\)", result.output).group(1))  # type: ignore[union-attr]
    assert estimate <= 450
    assert "test_tier1_schema.py::test_schema_conformance" in result.output
    assert "nothing was sent" in result.output
    assert "cannot reach" not in result.output  # no pre-flight: port 9 is closed


# -- live runs against the mock -----------------------------------------------------------------


def test_a_worker_without_the_shared_file_sends_its_share_of_budget_and_window() -> None:
    """A worker on another host: half the budget of a run of two, half of what is left."""
    pacer, _ = _pacer(max_requests=100, workers=2)
    for n in range(50):
        pacer.before_send(f"GET /{n}", "token")
    with pytest.raises(BudgetSpent, match="this worker's share: 50"):
        pacer.before_send("GET /one-too-many", "token")
    pacer.after_answer({"x-ratelimit-global-remaining": "10",
                        "x-ratelimit-reset": "1"}, "token")
    assert pacer._windows[hash("token")][0] == 5


def test_workers_on_one_host_draw_on_one_budget_beside_each_others_reserve(
        tmp_path: Path) -> None:
    path = SharedBudget.create(tmp_path / "budget.json")
    first = _pacer(max_requests=20, workers=2)[0]
    second = _pacer(max_requests=20, workers=2, cleanup_cost=lambda: 5)[0]
    first.shared, second.shared = SharedBudget(path, "gw0"), SharedBudget(path, "gw1")
    second.before_send("GET /reserve", "token")  # gw1 keeps 5 for its cleanup
    for n in range(14):  # more than a static share (10): 1 + 14 + 5 reserved = 20
        first.before_send(f"GET /{n}", "token")
    with pytest.raises(BudgetSpent):
        first.before_send("GET /over", "token")
    with INTERRUPTS.cleaning():  # the reserve is there for the cleanup
        second.before_send("DELETE /mine", "token")


@pytest.fixture
def mock(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[MockProcess]:
    config = write_mock_config(tmp_path / "mock.yaml")
    limit = getattr(request, "param", None)
    if limit is not None:
        data = yaml.safe_load(config.read_text())
        data["rate_limit"] = {"requests_per_10s": limit}
        config.write_text(yaml.safe_dump(data))
    with MockProcess(tmp_path / "mock.sqlite3", config, tmp_path / "mock.log") as server:
        yield server


def _served(mock: MockProcess) -> int:
    response = httpx.get(f"{mock.base_url}/_admin/requests",
                         headers={"Authorization": MOCK_WRITER_TOKEN})
    return int(response.json()["count"])


def _contract(mock: MockProcess, tmp_path: Path, budget: int, workers: int = 1,
              options: tuple[str, ...] = ()) -> tuple[str, int, float]:
    started = time.monotonic()
    result = run([PYTHON, "-m", "contract_tests.run", "--base-url", mock.base_url,
                  "--max-requests", str(budget), "--seed", "1", "--workers", str(workers),
                  "--reports-dir", str(tmp_path / "reports"), *options], cwd=tmp_path, env=ENV,
                 timeout=300)
    return result.output, result.returncode, time.monotonic() - started


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-workers"])
def test_a_budget_of_500_is_kept_at_the_server_and_reaches_every_operation(
        mock: MockProcess, tmp_path: Path, workers: int) -> None:
    """With workers the budget holds for the run as a whole (each takes its share)."""
    before = _served(mock)
    output, status, _ = _contract(mock, tmp_path, 500, workers)
    sent = _served(mock) - before
    print(f"\n[budget] MAX_REQUESTS=500 WORKERS={workers}: {sent} requests counted at the "
          f"server")
    assert status == 0, output[-3000:]
    assert sent <= 500
    results = json.loads((tmp_path / "reports" / "results.json").read_text())
    tier1_passed = {cell["operation"] for cell in results["matrix"]
                    if cell["tier"] == "tier1" and cell["passed"]}
    assert tier1_passed == set(OPERATIONS)  # tier 1 of every operation ran
    assert resources_left(mock.db) == []


def test_a_budget_is_kept_at_the_server_with_tier_1s_boundary_phase_on(
        mock: MockProcess, tmp_path: Path) -> None:
    """Tier 1 alone in 2,000 requests runs its boundary phase, whose successful examples are
    many: Schemathesis' authentication probes (past the suite's transport) go once per
    operation, inside what the budget keeps for them, not after each of those examples."""
    before = _served(mock)
    output, status, _ = _contract(mock, tmp_path, 2000, options=("--tiers", "1"))
    sent = _served(mock) - before
    print(f"\n[budget] MAX_REQUESTS=2000 TIERS=1: {sent} requests counted at the server")
    assert "tier 1 coverage phase on" in output, output[-3000:]
    assert status == 0, output[-3000:]  # the plan's estimate held, too
    assert sent <= 2000
    assert resources_left(mock.db) == []


def test_a_budget_too_small_stops_the_run_cleanly(mock: MockProcess, tmp_path: Path) -> None:
    before = _served(mock)
    output, status, _ = _contract(mock, tmp_path, 60)
    assert _served(mock) - before <= 60
    assert status == 2 and "request budget of" in output, output[-3000:]
    assert resources_left(mock.db) == []


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-workers"])
@pytest.mark.parametrize("mock", [100], indirect=True, ids=["100-per-10s"])
def test_a_run_paced_by_the_advertised_limit_gets_no_429(mock: MockProcess, tmp_path: Path,
                                                         workers: int) -> None:
    """Two workers share the advertised window: each takes half of what is left. A budget of
    350 spans at least three windows (20 s and more), so the plain progress line (every 10 s)
    shows whatever the machine's speed."""
    before = _served(mock)
    output, status, wall = _contract(mock, tmp_path, 350, workers)
    sent = _served(mock) - before
    windows = -(-sent // 100) - 1  # the window ends the requests have to wait for, at least
    print(f"\n[pacing] WORKERS={workers}: {sent} requests at 100 per 10 s in {wall:.1f} s (at least "
          f"{max(0, windows - 1) * 10} s + the time to the first window end)")
    assert status == 0, output[-3000:]
    assert "network retries: none" in output  # not one 429 waited out
    assert sent <= 350
    # not a terminal: the progress display degrades to plain lines every 10 s
    assert re.search(r"^progress: \d+/\d+ tests · \S+ \S+ .* · \d+/\d+ requests, \d+/s · "
                     r"0 failures$", output, re.MULTILINE), output[-3000:]


def test_a_request_the_budget_keeps_a_place_for_is_paced_but_not_counted() -> None:
    """Schemathesis' authentication probes leave past the pacer: within RATE, as a tester saw
    them not (two unpaced requests after each operation's first success), and not counted
    twice (the budget keeps their places)."""
    pacer, fake = _pacer(rate=4.0, max_requests=100, uncounted=2)
    pacer.before_send("GET /x", None)
    pacer.pace_uncounted(None)
    pacer.pace_uncounted(None)
    pacer.before_send("GET /x", None)
    assert fake.slept == pytest.approx([0.25] * 3)
    assert pacer.sent == 2
