"""pytest-xdist (``WORKERS=N``): which process of a distributed run this is, and what the
controller hands every worker. One place, so the suite's other modules ask a question ("am I a
worker?", "how many share the run?") instead of reading xdist's attributes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

__all__ = ["WORKER_BUDGET", "WORKER_SEED", "is_controller", "is_worker", "worker_count", "worker_id",
           "worker_input"]

WORKER_SEED = "contract_seed"  # the run's Hypothesis seed, chosen once by the controller
WORKER_BUDGET = "contract_budget"  # a local worker: the file of the run's request budget


def worker_input(config: pytest.Config) -> Mapping[str, Any]:
    """What the controller sent this worker (empty when the run is not distributed)."""
    return getattr(config, "workerinput", {})


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """The process that hands out tests and merges what the workers report (``-n N``, or
    ``--dist`` with ``--tx``: pytest-xdist's own test, from the command line on)."""
    return not is_worker(config) and getattr(config.option, "dist", "no") != "no" and bool(
        getattr(config.option, "tx", None))


def worker_count(config: pytest.Config) -> int:
    """How many processes run tests (1 when the run is not distributed)."""
    if is_controller(config):
        return len(config.option.tx)  # one worker per ``--tx`` (``-n N``: N of them)
    return int(worker_input(config).get("workercount", 1))


def worker_id(config: pytest.Config) -> str | None:
    """``gw0``, ``gw1``, ... in a worker; None elsewhere."""
    value = worker_input(config).get("workerid")
    return str(value) if value is not None else None
