"""The run model: every fact the reports show, built once from pytest's hooks (`plugin.py`).

Every output — the terminal summary, Markdown, HTML, JUnit properties, results.json and the
repro scripts — renders this one model, so no two of them can disagree.

The totals are defined here and nowhere else (docs/contract-suite.md, "Totals"):

- a *test* is one pytest test item of the suite that was selected to run; it has exactly one
  outcome (`OUTCOMES`). A test that Schemathesis splits per operation (tier 1) ends as the
  worst of its own outcome and its operation checks' outcomes.
- an *operation check* is one of those per-operation parts (a Schemathesis subtest), counted
  apart from the tests.
- the matrix counts *results*: each operation check in its operation's row, and each test that
  has no operation checks; a split test appears itself (under ``ALL_OPERATIONS``) only when it
  ended worse than all of its checks (it failed on its own, or did not run).
- a test or operation check is *known* when it failed and every failure it raised is a known
  deviation (baseline.py); a known outcome does not fail the run.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Literal

from ..budget import RunPlan
from ..markers import TIER_MARKERS
from ..recorder import Exchange
from ..settings import SuiteSettings

if TYPE_CHECKING:
    from .baseline import DeviationState
    from .compare import PreviousRun
    from .gate import Requirement

__all__ = [
    "ALL_OPERATIONS", "INFRASTRUCTURE", "OUTCOMES", "REPRO_DIR", "TIERS", "UNTIERED", "FailureRecord",
    "Repro", "Result", "RunData", "Status", "Totals", "failure_id", "new_run", "rerun_command",
]

TIERS = tuple(TIER_MARKERS)  # report order
# infra: failed only through the network; known: failed only through known deviations;
# not run: the run stopped before the test finished
OUTCOMES = ("passed", "failed", "known", "infra", "skipped", "not run")
FAILING = ("failed", "infra")  # the outcomes that fail a run
NOT_RUN = "not run"
INFRASTRUCTURE = "infrastructure"  # the rule of an infrastructure failure
ALL_OPERATIONS = "(several operations)"  # tests that are not about one operation
UNTIERED = "other"
REPRO_DIR = "repro"  # in the reports directory: one script per contract failure
_SEVERITY = {"not run": 5, "failed": 4, "infra": 3, "known": 2, "passed": 1, "skipped": 0}

# coverage-gap: nothing failed, but something the coverage gate requires was never exercised
Status = Literal["passed", "failed", "coverage-gap", "incomplete"]


@dataclass(frozen=True)
class Repro:
    """What a repro script replays, in order (repro.py chooses them from the recorder)."""

    provision: tuple[Exchange, ...]  # setup writes and creates that made the resources
    prepare: tuple[Exchange, ...]  # the failing example's own writes before the failing one
    failing: Exchange  # the request under test
    after: tuple[Exchange, ...]  # what the test read after it
    run_id: str | None  # the key prefix of everything the run created (renamed in a script)


@dataclass(frozen=True)
class FailureRecord:
    test: str
    operation: str
    tier: str  # the rule's tier ("tier1", "tier2", ...)
    test_tier: str  # the test's marker (a stateful test checks tier-2 rules)
    rule: str
    message: str
    reproduction: tuple[str, ...]  # curl commands, oldest first; empty: none captured
    infrastructure: bool = False  # not a contract failure (network.py)
    repro: Repro | None = None  # None: no request of the suite's own was recorded for it
    known: str | None = None  # a known deviation: the reason its baseline entry gives

    @property
    def request(self) -> Exchange | None:
        return self.repro.failing if self.repro is not None else None


def failure_id(index: int, record: FailureRecord) -> str:
    """A failure's id (0-based `index` in the run): its anchor, JSON id and repro file name."""
    return f"f{index + 1}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', record.rule).strip('-')}"


@dataclass
class Result:
    """The outcome of one test or operation check."""

    operation: str
    tier: str
    outcome: str = NOT_RUN  # until it has finished
    started: bool = False
    parent: str | None = None  # an operation check: the nodeid of its test


@dataclass(frozen=True)
class Totals:
    tests: Counter[str]  # outcome -> tests
    checks: Counter[str]  # outcome -> operation checks
    tests_by_tier: Mapping[str, Counter[str]]
    results_by_tier: Mapping[str, Counter[str]]  # the matrix's "all" row

    @property
    def test_count(self) -> int:
        return sum(self.tests.values())

    @property
    def check_count(self) -> int:
        return sum(self.checks.values())


@dataclass
class RunData:
    """Everything the reports show; the renderers are pure functions of it."""

    target: str
    seed: int
    examples_per_test: int
    in_process: bool
    rerun: str = ""  # the command that repeats this run (same target, seed, plan)
    shrink: bool = True
    selection: Mapping[str, str] = field(default_factory=dict)  # TIERS, OPS, -m, -k given
    max_requests: int | None = None  # a live target's request budget (MAX_REQUESTS)
    plan: RunPlan | None = None  # what the budget left of the run (None: no budget)
    app: str | None = None  # in-process: the --app that was tested
    kit_mock: bool = False
    target_id: str = ""  # what a comparison must match (settings.SuiteSettings.target_id)
    reports_dir: str = "reports"  # where the reports (and repro/, the scripts) are written
    duration_s: float = 0.0  # spent in the contract tests (setup and teardown included)
    requests: int = 0
    examples_run: int = 0
    tests: dict[str, Result] = field(default_factory=dict)  # nodeid -> result
    checks: dict[str, Result] = field(default_factory=dict)  # nodeid -> operation check
    statuses: Mapping[tuple[str, int], int] = field(default_factory=dict)
    instructions: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    usage: Mapping[tuple[str, str, str], int] = field(default_factory=dict)  # recorder.usage
    failures: list[FailureRecord] = field(default_factory=list)
    network: Mapping[str, int] = field(default_factory=dict)  # retries and give-ups by kind
    choices: Mapping[tuple[str, str], int] = field(default_factory=dict)  # open point, answer
    stopped: str | None = None  # why pytest stopped before the end (None: it did not)
    gate_file: str | None = None  # --require-coverage
    gaps: tuple[Requirement, ...] = ()  # what it requires and the run never exercised
    known_file: str | None = None  # --known
    deviations: tuple[DeviationState, ...] = ()  # what became of each of its entries
    previous: PreviousRun | None = None  # --compare

    # -- what happened ----------------------------------------------------------------------

    @property
    def budget_cut(self) -> bool:
        """The budget made the run smaller than asked: fewer examples, no boundary phase, or
        tests left out. A pass then proves less, and every output says so."""
        plan = self.plan
        return plan is not None and (plan.examples < self.examples_per_test
                                     or not plan.schema_coverage or bool(plan.dropped))

    @property
    def contract_failures(self) -> list[FailureRecord]:
        return [f for f in self.failures if not f.infrastructure]

    @property
    def infrastructure_failures(self) -> list[FailureRecord]:
        return [f for f in self.failures if f.infrastructure]

    @property
    def known_failures(self) -> list[FailureRecord]:
        return [f for f in self.failures if f.known is not None]

    def identified(self, records: Iterable[FailureRecord]) -> list[tuple[str, FailureRecord]]:
        """`records` (a subset of the failures) with their ids."""
        index = {id(f): i for i, f in enumerate(self.failures)}
        return [(failure_id(index[id(r)], r), r) for r in records]

    def repro_script(self, failure_id: str) -> PurePath:
        """Where a failure's repro script is written."""
        return PurePath(self.reports_dir) / REPRO_DIR / f"{failure_id}.sh"

    def per_second(self, count: int) -> float:
        return count / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def ran(self) -> bool:
        """Whether any test started (not a configuration error, not --collect-only)."""
        return any(r.started for r in self.tests.values())

    def outcome_of(self, nodeid: str) -> str:
        """A test's outcome, its operation checks' included."""
        result = self.tests[nodeid]
        checks = [c.outcome for c in self.checks.values() if c.parent == nodeid]
        return max([result.outcome, *checks], key=_SEVERITY.__getitem__)

    @property
    def not_run(self) -> Counter[tuple[str, str]]:
        """(tier, operation) -> tests that were selected but did not finish."""
        return Counter((r.tier, r.operation) for n, r in self.tests.items()
                       if self.outcome_of(n) == NOT_RUN)

    @property
    def cut_short(self) -> list[str]:
        """Tests that started and did not finish: running when the run stopped."""
        return [n for n, r in self.tests.items() if r.started and r.outcome == NOT_RUN]

    @property
    def status(self) -> Status:
        if self.stopped is not None or self.not_run:
            return "incomplete"
        totals = self.totals()
        if any(totals.tests[o] or totals.checks[o] for o in FAILING):
            return "failed"
        return "coverage-gap" if self.gaps else "passed"

    @property
    def incomplete_reason(self) -> str | None:
        if self.status != "incomplete":
            return None
        reason = self.stopped or "not every selected test ran"
        running = self.cut_short
        if running:
            reason += f" (during {running[0]})"
        return reason

    def settle_known(self) -> None:
        """A failed test or operation check all of whose failures are known deviations is
        `known`; a split test that failed only through its checks (no failure of its own)
        follows them."""
        for nodeid, result in (*self.checks.items(), *self.tests.items()):  # checks first
            if result.outcome != "failed":
                continue
            own = [f for f in self.failures if f.test == nodeid]
            checks = [c.outcome for c in self.checks.values() if c.parent == nodeid]
            known = (all(f.known is not None for f in own) if own else
                     "known" in checks and not set(checks) & set(FAILING))
            if known:
                result.outcome = "known"

    # -- the one definition of the totals ---------------------------------------------------

    def totals(self) -> Totals:
        tests: Counter[str] = Counter()
        by_tier: dict[str, Counter[str]] = {tier: Counter() for tier in TIERS}
        for nodeid, result in self.tests.items():
            outcome = self.outcome_of(nodeid)
            tests[outcome] += 1
            by_tier.setdefault(result.tier, Counter())[outcome] += 1
        checks = Counter(c.outcome for c in self.checks.values())
        results: dict[str, Counter[str]] = {tier: Counter() for tier in TIERS}
        for (_, tier, outcome), count in self.matrix().items():
            results.setdefault(tier, Counter())[outcome] += count
        return Totals(tests, checks, by_tier, results)

    def matrix(self) -> Counter[tuple[str, str, str]]:
        """(operation, tier, outcome) -> results (the module docstring says what a result is)."""
        cells: Counter[tuple[str, str, str]] = Counter()
        for check in self.checks.values():
            cells[(check.operation, check.tier, check.outcome)] += 1
        for nodeid, result in self.tests.items():
            own = [c.outcome for c in self.checks.values() if c.parent == nodeid]
            if own and _SEVERITY[result.outcome] <= max(_SEVERITY[o] for o in own):
                continue  # shown by its operation checks
            cells[(result.operation, result.tier, result.outcome)] += 1
        return cells

    def tiers(self) -> list[str]:
        extra = sorted({r.tier for r in (*self.tests.values(), *self.checks.values())}
                       - set(TIERS))
        return [*TIERS, *extra]


def _listed(values: frozenset[str] | None) -> str | None:
    return ",".join(sorted(values)) if values is not None else None


def _rate(rate: float | None) -> str | None:
    return None if rate is None else f"{rate:g}"


def chosen_tests(settings: SuiteSettings) -> dict[str, str]:
    """The run's selection by the suite's own settings (TIERS, OPS), as make variables."""
    chosen = {"TIERS": _listed(settings.tiers), "OPS": _listed(settings.operations)}
    return {name: value for name, value in chosen.items() if value is not None}


def rerun_command(settings: SuiteSettings, seed: int) -> str:
    """The command that repeats a run: the same target, seed, examples per test, selection,
    and against a URL the same budget and rate (without them it would be another plan)."""
    chosen = chosen_tests(settings)
    if settings.in_process:
        options = [f"--hypothesis-seed={seed}", f"--examples {settings.examples}",
                   *([f"--app {settings.app_factory}"] if settings.app_factory else []),
                   *([f"--mock-policy {settings.mock_policy}"]
                     if settings.mock_policy != "reference" else []),
                   *(f"--{name.lower()} {value}" for name, value in chosen.items()),
                   *([] if settings.shrink else ["--no-shrink"]),
                   *([f"-n {settings.workers}"] if settings.workers > 1 else [])]
        return "pytest contract_tests " + " ".join(options)
    variables = {"BASE_URL": None if settings.kit_mock else settings.base_url,
                 "SEED": str(seed), "EXAMPLES": str(settings.examples),
                 "MAX_REQUESTS": None if settings.budget_asked is None
                 else str(settings.budget_asked),
                 "RATE": _rate(settings.rate), **chosen,
                 "NO_SHRINK": None if settings.shrink else "1",
                 "WORKERS": str(settings.workers) if settings.workers > 1 else None}
    return "make contract" + "".join(f" {name}={value}" for name, value in variables.items()
                                     if value is not None)


def new_run(settings: SuiteSettings, seed: int, selection: Mapping[str, str]) -> RunData:
    return RunData(
        target=settings.target_name, seed=seed, examples_per_test=settings.examples,
        in_process=settings.in_process, rerun=rerun_command(settings, seed),
        shrink=settings.shrink, selection={**chosen_tests(settings), **selection},
        max_requests=None if settings.in_process else settings.budget_asked,
        app=settings.app_factory,
        kit_mock=settings.kit_mock, target_id=settings.target_id,
        reports_dir=str(settings.reports_dir),
        gate_file=str(settings.coverage_gate.path) if settings.coverage_gate else None,
        known_file=str(settings.baseline.path) if settings.baseline else None,
        previous=settings.previous,
    )
