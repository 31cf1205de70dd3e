"""What a run will send, and how to fit a run into a request budget.

`RunPlan` is what the suite runs with: examples per Hypothesis test, whether tier 1 runs
Schemathesis' boundary-value (coverage) phase, how many stateful runs, and which of the many
fixed-case tests (content types, malformed bodies, access control) run. Without a budget it is
the full suite. With ``--max-requests N`` the plan is the largest that its estimate keeps within
N: examples go down first (to one), then the coverage phase goes, then the fixed cases are thinned
out round-robin over the operations, so that every operation keeps a case of every kind for as
long as the budget allows. The estimate is a cost model measured on the kit's mock (requests per
example, per case, per resource: `COSTS`); the pacer (pacing.py) enforces the budget itself, so an
estimate that is off ends the run early and incomplete, never over N.

``--plan`` prints the plan and its estimate and sends nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from .markers import module_name, tier_marker
from .pacing import AUTH_PROBES_PER_OPERATION
from .settings import SuiteSettings

__all__ = ["COSTS", "RunPlan", "estimate", "per_test", "plan_run", "print_plan"]

# Requests, measured in-process on the kit's mock (seed 1, 2026-12-01; docs/contract-suite.md);
# tier 1's boundary phase again against the mock process (2026-12-02: docs/contract-suite.md).
COSTS = {
    "schema-coverage-per-operation": 70.0,  # tier 1's boundary-value phase, per operation
    "schema-per-example": 1.6,  # tier 1, per example per operation (positive and negative)
    "schema-probes-per-operation": float(AUTH_PROBES_PER_OPERATION),  # once a run
    "semantics-per-example": 7.7,  # a tier-2 semantic example: reset, schedule, GETs, PATCH
    "stateful-per-step": 6.75,  # a step of a stateful run and the GETs of its invariant
    "fixed-case": 5.5,  # one content-type, malformed-body or access-control case
    "resources": 40.0,  # the setup's segments and flags, created and deleted
}
FIXED_CASE_MODULE = "test_tier2_access"
SEMANTICS_MODULE = "test_tier2_semantics"
STATEFUL_MODULE = "test_tier2_stateful"
SCHEMA_MODULE = "test_tier1_schema"
BUDGET_STATEFUL_STEPS = 10  # a budgeted run's stateful runs are shorter
USABLE_SHARE = 0.9  # of the budget: the rest absorbs retries and estimates that are low


@dataclass(frozen=True)
class RunPlan:
    examples: int
    schema_coverage: bool = True
    stateful_runs: int = 3
    stateful_steps: int = 40
    dropped: tuple[str, ...] = ()  # node ids of fixed cases left out to fit the budget
    estimate: int = 0  # requests the plan is expected to send

    def describe(self) -> str:
        return (f"{per_test(self.examples)}, tier 1 coverage phase "
                f"{'on' if self.schema_coverage else 'off'}, {self.stateful_runs} stateful "
                f"run(s) of {self.stateful_steps} steps, {len(self.dropped)} fixed case(s) left "
                f"out; about {self.estimate} requests")


def per_test(examples: int) -> str:
    """`1 example per test`, `25 examples per test`."""
    return f"{examples} example{'' if examples == 1 else 's'} per test"


def _operation_key(item: pytest.Item) -> str:
    """What a fixed case is about (its operation and its kind of check), for thinning out
    round-robin: every operation keeps one case of every kind before any gets a second."""
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    return f"{params.get('operation_id', '')}:{getattr(item, 'originalname', item.name)}"


def estimate(items: Sequence[pytest.Item], examples: int, schema_coverage: bool,
             stateful_runs: int, stateful_steps: int, workers: int = 1) -> int:
    """Requests `items` send with these settings; every worker (pytest-xdist) provisions its
    own resources."""
    modules = Counter(module_name(item) for item in items)
    total = COSTS["resources"] * workers
    total += modules[SCHEMA_MODULE] * (examples * COSTS["schema-per-example"]  # one per operation
                                       + COSTS["schema-probes-per-operation"]
                                       + (COSTS["schema-coverage-per-operation"]
                                          if schema_coverage else 0))
    total += modules[SEMANTICS_MODULE] * examples * COSTS["semantics-per-example"]
    total += (modules[STATEFUL_MODULE] * stateful_runs * stateful_steps
              * COSTS["stateful-per-step"])
    total += modules[FIXED_CASE_MODULE] * COSTS["fixed-case"]
    return round(total)


def plan_run(items: Sequence[pytest.Item], examples: int, budget: int | None,
             workers: int = 1) -> RunPlan:
    """The full plan for `examples`, or the largest one whose estimate fits `budget` (the whole
    run's: `workers` share it)."""
    def cost(e: int, coverage: bool, kept: Sequence[pytest.Item]) -> int:
        return estimate(kept, e, coverage, max(1, e // 8), BUDGET_STATEFUL_STEPS, workers)

    def fitted(e: int, coverage: bool, dropped: tuple[str, ...] = (),
               kept: Sequence[pytest.Item] = items) -> RunPlan:
        return RunPlan(e, coverage, max(1, e // 8), BUDGET_STATEFUL_STEPS, dropped,
                       cost(e, coverage, kept))

    full = RunPlan(examples, True, max(3, examples // 8),
                   estimate=estimate(items, examples, True, max(3, examples // 8), 40,
                                     workers))
    if budget is None or full.estimate <= budget * USABLE_SHARE:
        return full
    usable = budget * USABLE_SHARE
    for coverage in (True, False):
        for e in range(examples, 0, -1):
            if cost(e, coverage, items) <= usable:
                return fitted(e, coverage)
    # one example, no coverage phase: thin out the fixed cases, the last round first
    fixed = [item for item in items if module_name(item) == FIXED_CASE_MODULE]
    rounds: Counter[str] = Counter()
    ranked = []
    for index, item in enumerate(fixed):
        key = _operation_key(item)
        ranked.append((rounds[key], index, item))
        rounds[key] += 1
    ranked.sort(key=lambda entry: entry[:2])
    others = [item for item in items if module_name(item) != FIXED_CASE_MODULE]
    kept = len(ranked)
    while kept > 0 and cost(1, False, [*others, *(r[2] for r in ranked[:kept])]) > usable:
        kept -= 1
    return fitted(1, False, tuple(r[2].nodeid for r in ranked[kept:]),
                  [*others, *(r[2] for r in ranked[:kept])])


def print_plan(settings: SuiteSettings, items: Sequence[pytest.Item], plan: RunPlan) -> None:
    """PLAN=1: what the run would do, before anything is sent."""
    by_tier: Counter[str] = Counter()
    for item in items:
        by_tier[tier_marker(item) or "other"] += 1
    print(f"\nplan for {settings.target_name} (project {settings.project_key}, environment "
          f"{settings.environment_key}):")
    print("  tests: " + ", ".join(f"{tier} {n}" for tier, n in sorted(by_tier.items())))
    for item in items:
        print(f"    {item.nodeid}")
    print(f"  {plan.describe()}"
          + (f" (budget {settings.max_requests})" if settings.max_requests else ""))
    print("  creates: segments and flags keyed ct-<time>-<random>-…, each with individual "
          "targets; all deleted at the end")
