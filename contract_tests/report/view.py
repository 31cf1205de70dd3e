"""The facts every rendering shows, prepared once from the run model.

The Markdown and HTML templates, the terminal summary and results.json all read this view (or
the model beneath it), never the hooks: what one of them says, the others say too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from generated.operations import OPERATIONS, RULES

from ..budget import per_test
from ..recorder import CREDENTIAL_PLACEHOLDERS, Exchange
from .anchors import coverage_anchor
from .baseline import KnownDeviation
from .compare import Comparison, compare
from .coverage import OperationCoverage, coverage_of, covered
from .coverage_view import COVERAGE_NOTE, HEADINGS, CoverageDetail, CoverageRow, coverage_views
from .gate import Requirement
from .model import ALL_OPERATIONS, OUTCOMES, FailureRecord, RunData, Status, Totals

__all__ = [
    "Bar", "Cell", "DeviationRow", "FailureView", "MatrixRow", "ReportView", "build_view",
    "cell_text", "clip", "counted", "rule_text",
]

CHOICES_NOTE = ("Where the documents allow more than one answer, every allowed answer passes; "
                "these are the ones this server gave (docs/assertions.md).")
TOTALS_NOTE = ("A test is one pytest test of the suite that was selected to run; tier 1 is one "
               "test whose operation checks (one per operation) are counted apart. The matrix "
               "counts tier 1 by operation check and the other tiers by test "
               "(docs/contract-suite.md, Totals).")
CHART_WIDTH = 360  # pixels of the longest bar
MAX_BODY = 4000  # characters of a request or answer body the reports show
_CREDENTIALS = {
    "writer": f"the write token ({CREDENTIAL_PLACEHOLDERS['writer']})",
    "readonly": f"the read-only token ({CREDENTIAL_PLACEHOLDERS['readonly']})",
    "unknown": f"a token the server does not know ({CREDENTIAL_PLACEHOLDERS['unknown']})",
    None: "no Authorization header",
}


def cell_text(counts: Mapping[str, int]) -> str:
    parts = [f"{counts[o]} {o}" for o in OUTCOMES if counts.get(o)]
    return ", ".join(parts) if parts else "·"


def _css_class(counts: Mapping[str, int]) -> str:
    for outcome in ("failed", "infra", "not run", "known", "passed", "skipped"):
        if counts.get(outcome):
            return outcome.replace(" ", "-")
    return "none"


def counted(counts: Counter[str]) -> str:
    """`12 (10 passed, 2 failed)`: a total and how it splits."""
    return f"{sum(counts.values())} ({cell_text(counts).replace('·', 'none')})"


@dataclass(frozen=True)
class Cell:
    counts: Mapping[str, int]
    text: str
    css: str
    failures: tuple[tuple[str, str], ...]  # (label, failure id) of the failures it counts


@dataclass(frozen=True)
class MatrixRow:
    operation: str
    cells: tuple[Cell, ...]
    coverage: str  # the anchor of what the run covered of the operation
    total: bool = False  # the "all" row


@dataclass(frozen=True)
class Segment:
    outcome: str
    count: int
    x: int
    width: int


@dataclass(frozen=True)
class Bar:
    tier: str
    total: int
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class FailureView:
    id: str
    label: str  # short: f1, f2, ...
    record: FailureRecord
    rule_text: str  # the rule, which says what was expected
    request: str | None  # "METHOD path"
    credential: str | None
    request_body: str | None
    answer: str | None  # "HTTP 200"
    answer_body: str | None
    script: str | None  # the repro script's path


@dataclass(frozen=True)
class DeviationRow:
    entry: KnownDeviation
    state: str  # matched, expired (excuses nothing), stale (matched nothing)
    failures: tuple[tuple[str, str], ...]  # (label, failure id)

    @property
    def match(self) -> str:
        return self.entry.match or "(any message)"

    @property
    def expires(self) -> str:
        return str(self.entry.expires) if self.entry.expires else "never"


@dataclass(frozen=True)
class ComparisonView:
    comparison: Comparison
    failures: tuple[tuple[str, str, str, str, str], ...]  # change, rule, operation, test, id
    coverage: tuple[tuple[str, str, str, str], ...]  # change, operation, dimension, item
    summary: str


@dataclass(frozen=True)
class ReportView:
    run: RunData
    totals: Totals
    status: Status
    banner: str
    overview: tuple[tuple[str, str], ...]
    tiers: tuple[str, ...]
    matrix: tuple[MatrixRow, ...]
    tier_rows: tuple[tuple[str, tuple[int, ...], int], ...]  # name, count per outcome, total
    not_run: tuple[tuple[str, str, int], ...]  # tier, operation, tests
    choices: tuple[tuple[str, str, int], ...]
    failures: tuple[FailureView, ...]  # contract failures (known deviations included)
    infrastructure: tuple[FailureView, ...]
    chart: tuple[Bar, ...]
    coverages: tuple[OperationCoverage, ...]
    coverage: tuple[CoverageRow, ...]
    coverage_details: tuple[CoverageDetail, ...]
    gaps: tuple[Requirement, ...]
    deviations: tuple[DeviationRow, ...]
    comparison: ComparisonView | None
    outcomes: tuple[str, ...] = OUTCOMES
    coverage_headings: tuple[str, ...] = tuple(HEADINGS.values())
    choices_note: str = CHOICES_NOTE
    totals_note: str = TOTALS_NOTE
    coverage_note: str = COVERAGE_NOTE


def build_view(run: RunData) -> ReportView:
    totals = run.totals()
    failures = _failure_views(run, run.contract_failures)
    infra = _failure_views(run, run.infrastructure_failures)
    coverages = coverage_of(run)
    rows, details = coverage_views(coverages, run.gaps)
    comparison = compare(run, covered(coverages))
    return ReportView(
        run=run, totals=totals, status=run.status,
        banner=_banner(run, totals) + _cut_note(run, coverages),
        overview=_overview(run, totals, comparison), tiers=tuple(run.tiers()),
        matrix=_matrix(run, totals, (*failures, *infra)), tier_rows=_tier_rows(run, totals),
        not_run=tuple((tier, op, n) for (tier, op), n in sorted(
            run.not_run.items(), key=lambda kv: (_tier_rank(run, kv[0][0]), kv[0][1]))),
        choices=tuple((p, a, n) for (p, a), n in sorted(run.choices.items())),
        failures=failures, infrastructure=infra, chart=_chart(run, totals),
        coverages=coverages, coverage=rows, coverage_details=details, gaps=run.gaps,
        deviations=_deviation_rows(run), comparison=_comparison_view(run, comparison),
    )


def _tier_rank(run: RunData, tier: str) -> int:
    tiers = run.tiers()
    return tiers.index(tier) if tier in tiers else len(tiers)


def _cut_note(run: RunData, coverages: tuple[OperationCoverage, ...]) -> str:
    """After the banner of a run the budget cut: so that a pass is read as the smaller proof
    it is, with the tier-2 rules no operation's test exercised."""
    if not run.budget_cut or run.plan is None:  # (the second for the type checker)
        return ""
    reached: Counter[str] = Counter()
    for coverage in coverages:
        for item in coverage.of("rule"):
            reached[item.name] += item.count  # zero counts too: the rule is listed
    never = sorted(name for name, count in reached.items() if count == 0)
    unexercised = (f"; tier-2 rules never exercised: {len(never)} ({', '.join(never)})"
                   if never else "")
    return (f" The request budget ({run.max_requests}) cut this run: "
            f"{per_test(run.plan.examples)} ({run.examples_per_test} asked), "
            f"{len(run.plan.dropped)} tests left out{unexercised}; the Coverage section has the "
            "rest.")



def _banner(run: RunData, totals: Totals) -> str:
    if run.status == "incomplete":
        missing = sum(run.not_run.values())
        return f"INCOMPLETE: {run.incomplete_reason}. " + (
            f"{missing} of {totals.test_count} tests did not run, so this run proves nothing "
            "about them." if missing else "It stopped before the end of the run.")
    of_them = (f"; {len(run.known_failures)} of them known deviations"
               if run.known_failures else "")
    gaps = f" Coverage gaps: {len(run.gaps)}." if run.gaps else ""
    if run.status == "failed":
        return (f"FAILED: {len(run.contract_failures)} contract failures{of_them}, "
                f"{len(run.infrastructure_failures)} infrastructure failures.{gaps}")
    passed = (f"no test or operation check failed (tests: {counted(totals.tests)}; "
              f"operation checks: {counted(totals.checks)})")
    if run.status == "coverage-gap":
        return (f"COVERAGE GAP: {len(run.gaps)} items the coverage file requires were never "
                f"exercised ({run.gate_file}); {passed}.")
    known = (f" {len(run.known_failures)} known deviations (failures the baseline accepts)."
             if run.known_failures else "")
    return f"PASSED: {passed}.{known}"


def _overview(run: RunData, totals: Totals,
              comparison: Comparison | None) -> tuple[tuple[str, str], ...]:
    selection = "; ".join(f"{k} {v}" if k.startswith("-") else f"{k}={v}"
                          for k, v in run.selection.items()) or "every test"
    return (*_basics(run, totals, selection), ("request budget", _budget_line(run)),
            *_file_lines(run, comparison))


def _budget_line(run: RunData) -> str:
    """What MAX_REQUESTS left of the run (contract_tests/budget.py's plan)."""
    if run.plan is None:  # only a budget's run has one
        return "none (MAX_REQUESTS=N)" if not run.in_process else "none (in process)"
    verdict = "cut the run to fit" if run.budget_cut else "the whole run fitted"
    return f"{run.max_requests} requests: {verdict}: {run.plan.describe()}"


def _file_lines(run: RunData, comparison: Comparison | None) -> tuple[tuple[str, str], ...]:
    """The overview's lines of the coverage gate, the baseline and the comparison."""
    expired = sum(1 for d in run.deviations if d.state == "expired")
    stale = sum(1 for d in run.deviations if d.state == "stale")
    return (
        ("coverage gaps", f"{len(run.gaps)} ({run.gate_file})" if run.gate_file else
         "no coverage file given (REQUIRE_COVERAGE=FILE)"),
        ("known deviations", (f"known failures {len(run.known_failures)}, expired entries "
                              f"{expired}, stale entries {stale} ({run.known_file})")
         if run.known_file else "no known-deviations file given (KNOWN=FILE)"),
        ("compared with", _comparison_summary(comparison) if comparison is not None else
         "no previous run given (COMPARE=FILE)"),
    )


def _basics(run: RunData, totals: Totals, selection: str) -> tuple[tuple[str, str], ...]:
    return (
        ("status", run.status.upper() + (f": {run.incomplete_reason}"
                                         if run.status == "incomplete" else "")),
        ("target", run.target),
        ("seed", f"{run.seed} (`--hypothesis-seed={run.seed}`; re-run: `{run.rerun}`)"),
        ("examples per test", (f"{run.plan.examples} ({run.examples_per_test} asked; the "
                               "request budget cut it)" if run.plan is not None
                               and run.plan.examples < run.examples_per_test
                               else str(run.examples_per_test))
         + ("" if run.shrink else " (failing examples not shrunk)")),
        ("selection", selection),
        ("duration", f"{run.duration_s:.1f} s"),
        ("requests made", f"{run.requests} ({run.per_second(run.requests):.1f}/s)"),
        ("examples run", (f"{run.examples_run} ({run.per_second(run.examples_run):.1f}/s; "
                          "Hypothesis test cases, shrinking included)")),
        ("tests", counted(totals.tests)),
        ("operation checks", counted(totals.checks) + " (tier 1, one per operation)"),
        ("contract failures", str(len(run.contract_failures))),
        ("infrastructure failures", (f"{len(run.infrastructure_failures)} (the network or a "
                                     "gateway failed; not contract failures)")),
        ("network retries", ", ".join(f"{event} ×{count}" for event, count in
                                      sorted(run.network.items())) or "none"),
    )


def _operations(run: RunData) -> list[str]:
    seen = {op for op, _, _ in run.matrix()} | {op for op, _ in run.statuses}
    extra = sorted(seen - set(OPERATIONS) - {ALL_OPERATIONS})
    return [*OPERATIONS, *extra, *([ALL_OPERATIONS] if ALL_OPERATIONS in seen else [])]


def _matrix(run: RunData, totals: Totals,
            failures: tuple[FailureView, ...]) -> tuple[MatrixRow, ...]:
    tiers, cells = run.tiers(), run.matrix()
    rows = []
    for operation in _operations(run):
        row = []
        for tier in tiers:
            counts = {o: cells[(operation, tier, o)] for o in OUTCOMES}
            refs = tuple((f.label, f.id) for f in failures
                         if (f.record.operation, f.record.test_tier) == (operation, tier))
            row.append(Cell(counts, cell_text(counts), _css_class(counts), refs))
        rows.append(MatrixRow(operation, tuple(row), coverage_anchor(
            operation) if operation in OPERATIONS else "coverage"))
    results = totals.results_by_tier
    rows.append(MatrixRow("all", tuple(
        Cell(results.get(t, Counter()), cell_text(results.get(t, Counter())),
             _css_class(results.get(t, Counter())), ()) for t in tiers), "coverage", total=True))
    return tuple(rows)


def _tier_rows(run: RunData, totals: Totals) -> tuple[tuple[str, tuple[int, ...], int], ...]:
    rows = [(tier, tuple(totals.tests_by_tier.get(tier, Counter())[o] for o in OUTCOMES),
             sum(totals.tests_by_tier.get(tier, Counter()).values())) for tier in run.tiers()]
    rows.append(("all tests", tuple(totals.tests[o] for o in OUTCOMES), totals.test_count))
    rows.append(("operation checks (tier 1)", tuple(totals.checks[o] for o in OUTCOMES),
                 totals.check_count))
    return tuple(rows)


def rule_text(record: FailureRecord) -> str:
    rule = RULES.get(record.rule)
    if rule is not None:
        return f"{record.rule}: {rule.summary}"
    if record.rule.startswith("policy:"):
        return f"{record.rule} (the mock's reference policy, docs/mock-server.md)"
    return record.rule


def clip(text: str) -> str:
    """A body as the reports show it."""
    return text if len(text) <= MAX_BODY else text[:MAX_BODY] + " …(truncated)"


def _body(exchange: Exchange) -> str | None:
    return clip(exchange.body.decode("utf-8", "replace")) if exchange.body else None


def _failure_views(run: RunData, records: list[FailureRecord]) -> tuple[FailureView, ...]:
    views = []
    for failure_id, record in run.identified(records):
        request = record.request
        views.append(FailureView(
            id=failure_id, label=failure_id.split("-", 1)[0], record=record,
            rule_text=rule_text(record),
            request=(f"{request.method} {request.url}" if request is not None else None),
            credential=_CREDENTIALS[request.credential] if request is not None else None,
            request_body=_body(request) if request is not None else None,
            answer=(None if request is None else f"HTTP {request.status}"
                    if request.status is not None else "no answer (the network failed)"),
            answer_body=clip(request.response_excerpt) if request is not None else None,
            script=(str(run.repro_script(failure_id))
                    if record.repro is not None and not record.infrastructure else None),
        ))
    return tuple(views)


def _chart(run: RunData, totals: Totals) -> tuple[Bar, ...]:
    """Results per tier as bars scaled to the largest tier (the matrix's "all" row)."""
    tiers = run.tiers()
    largest = max((sum(c.values()) for c in totals.results_by_tier.values()), default=0) or 1
    bars = []
    for tier in tiers:
        counts = totals.results_by_tier.get(tier, Counter())
        x, segments = 0, []
        for outcome in OUTCOMES:
            if counts[outcome]:
                width = max(1, round(CHART_WIDTH * counts[outcome] / largest))
                segments.append(Segment(outcome, counts[outcome], x, width))
                x += width
        bars.append(Bar(tier, sum(counts.values()), tuple(segments)))
    return tuple(bars)


def _deviation_rows(run: RunData) -> tuple[DeviationRow, ...]:
    ids = [failure_id for failure_id, _ in run.identified(run.failures)]
    return tuple(DeviationRow(d.entry, d.state, tuple((ids[i].split("-", 1)[0], ids[i])
                                                      for i in d.failures))
                 for d in run.deviations)


def _comparison_summary(comparison: Comparison) -> str:
    previous = comparison.previous
    return (f"{previous.path} (seed {previous.seed}, {previous.status}): " + ", ".join(
        f"{name} {count}" for name, count in comparison.counts().items()))


def _comparison_view(run: RunData, comparison: Comparison | None) -> ComparisonView | None:
    if comparison is None:
        return None
    now: dict[tuple[str, str, str], str] = {}
    for failure_id, record in run.identified(run.contract_failures):
        now.setdefault((record.rule, record.operation, record.test), failure_id)
    before = comparison.previous.failures
    failures = tuple((change, rule, operation, test,
                      now.get((rule, operation, test)) or
                      f"{before[(rule, operation, test)]} (previous run)")
                     for change, keys in (("new", comparison.new),
                                          ("still failing", comparison.still_failing),
                                          ("fixed", comparison.fixed),
                                          ("not re-checked", comparison.not_rechecked))
                     for rule, operation, test in keys)
    coverage = tuple((change, operation, HEADINGS[dimension], item)
                     for change, items in (("newly covered", comparison.newly_covered),
                                           ("no longer covered", comparison.no_longer_covered))
                     for operation, dimension, item in items)
    return ComparisonView(comparison, failures, coverage, _comparison_summary(comparison))
