"""A run spread over pytest-xdist workers, reported as one: what each worker ships to the
controller when it ends, and how the controller folds the parts into its own run model.

Every worker builds the model of the tests it ran exactly as a single process does (plugin.py);
at its end it ships the facts that only it saw — test and check results, failures with their
repro exchanges, the recorder's counts — as one pickled `WorkerPart` in ``workeroutput`` (the
same code runs on both ends of the channel). The controller merges the parts, then finishes the
merged model once (known deviations, coverage gate, status) and writes every report from it,
so the outputs of a run with workers are those of one run.
"""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..budget import RunPlan
from .model import NOT_RUN, FailureRecord, Result, RunData

__all__ = ["PART_KEY", "WorkerPart", "merge_part", "part_of"]

PART_KEY = "contract-run"  # in a worker's workeroutput
K = TypeVar("K")


@dataclass(frozen=True)
class WorkerPart:
    seed: int
    tests: dict[str, Result]
    checks: dict[str, Result]
    failures: list[FailureRecord]
    statuses: Mapping[tuple[str, int], int]
    instructions: Mapping[tuple[str, str, str], int]
    usage: Mapping[tuple[str, str, str], int]
    network: Mapping[str, int]
    choices: Mapping[tuple[str, str], int]
    requests: int
    examples_run: int
    duration_s: float
    stopped: str | None
    plan: RunPlan | None  # the same on every worker


def part_of(run: RunData) -> bytes:
    """What a worker's model adds to the run (its tests, failures and counts), for its
    ``workeroutput``."""
    return pickle.dumps(WorkerPart(
        run.seed, run.tests, run.checks, run.failures, run.statuses, run.instructions, run.usage,
        run.network, run.choices, run.requests, run.examples_run, run.duration_s, run.stopped,
        run.plan))


def _summed(ours: Mapping[K, int], theirs: Mapping[K, int]) -> dict[K, int]:
    return dict(Counter(ours) + Counter(theirs))


def _ran(result: Result) -> bool:
    return result.started or result.outcome != NOT_RUN


def _in_run_order(run: RunData) -> Callable[[FailureRecord], int]:
    """A failure's place: its test's (or its operation check's test's) in the run's order."""
    order = {nodeid: index for index, nodeid in enumerate(run.tests)}

    def position(failure: FailureRecord) -> int:
        check = run.checks.get(failure.test)
        test = check.parent if check is not None and check.parent else failure.test
        return order.get(test, len(order))

    return position


def merge_part(run: RunData, shipped: Any) -> None:
    """Fold one worker's part into the controller's `run`. Every worker collects every test
    and lists those it was not given as not run: a test's result is the one from the worker
    that ran it. Failures are kept in test order, so their ids do not depend on which worker
    ended first."""
    part: WorkerPart = pickle.loads(shipped)
    if part.seed != run.seed:  # its examples are not those the printed seed repeats
        run.stopped = run.stopped or (f"a worker ran with seed {part.seed}, not the run's "
                                      f"{run.seed}: its tests cannot be repeated from the seed")
    for nodeid, result in part.tests.items():
        if nodeid not in run.tests or _ran(result):
            run.tests[nodeid] = result
    run.checks.update(part.checks)
    run.failures = sorted([*run.failures, *part.failures], key=_in_run_order(run))
    run.statuses = _summed(run.statuses, part.statuses)
    run.instructions = _summed(run.instructions, part.instructions)
    run.usage = _summed(run.usage, part.usage)
    run.network = _summed(run.network, part.network)
    run.choices = _summed(run.choices, part.choices)
    run.requests += part.requests
    run.examples_run += part.examples_run
    run.duration_s = max(run.duration_s, part.duration_s)  # the workers ran side by side
    run.stopped = run.stopped or part.stopped
    run.plan = run.plan or part.plan
